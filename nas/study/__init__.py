"""The study: the trial record, storages, multi-worker bookkeeping, samplers, one trial, the worker loop, outputs."""
