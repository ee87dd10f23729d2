"""Analysis of studies: Pareto fronts, hypervolume, heat maps, pruning, reports."""
