"""What a study stores: the trial record, the budget's slots, storages, samplers, and the search settings' types."""
