"""genotype → nn.Module. Model code never imports the search, Optuna or Hydra."""

from nas.models.network import DenseNet, Transition, build_model, check_input_size, min_input_size

__all__ = ["DenseNet", "Transition", "build_model", "check_input_size", "min_input_size"]
