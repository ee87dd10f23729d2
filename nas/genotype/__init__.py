"""The genotype (the contract between the search and everything after it), its
connectivity patterns and the published architectures as presets."""

from nas.genotype.genotype import CONV_TYPES, HEADS, STEMS, Block, Genotype, Head, Stem, Transition, transition_channels
from nas.genotype.patterns import GenotypeError

__all__ = ["Block", "CONV_TYPES", "Genotype", "GenotypeError", "HEADS", "Head", "STEMS", "Stem", "Transition",
           "transition_channels"]
