"""Tabular benchmarks: a search space trained whole once, and studies replayed on it in seconds."""
