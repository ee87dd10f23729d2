"""Data, training, checkpoints and what a trial measures."""
