"""What a study writes: ``runs/<study>/`` (trials.csv, the front, the hypervolume, plots, kept
weights) and its W&B runs."""
