"""densenet-nas: search the family of densely connected CNNs."""

from nas.genotype import Block, Genotype, GenotypeError, Head, Stem, Transition
from nas.genotype.presets import PRESETS
from nas.models import build_model

__all__ = ["Block", "Genotype", "GenotypeError", "Head", "PRESETS", "Stem", "Transition", "build_model"]
