"""densenet-nas: search the family of densely connected CNNs."""

from nas.genotype import Block, Genotype, GenotypeError, Head, Stem, Transition
from nas.models import build_model
from nas.genotype.presets import PRESETS

__all__ = ["Block", "Genotype", "GenotypeError", "Head", "PRESETS", "Stem", "Transition", "build_model"]
