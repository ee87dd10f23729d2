"""Search spaces: one module per space, each turning an Optuna trial into a Genotype."""
