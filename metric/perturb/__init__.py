"""Perturbation engine: the degradation families of CDPAM's perceptual data.

The families follow the JND data of DPAM/CDPAM (Manocha et al., Interspeech 2020 and
ICASSP 2021): additive noise, reverberation, equalisation, compression, pops,
dropouts, clipping, band-limiting, Griffin-Lim phase reconstruction, gain and time
shift. Every family takes a continuous *level* in [0, 1]: 0 is no (or almost no)
change, 1 the strongest, mapped onto the physical ranges of the JND data
(``describe(family, level, sample_rate)`` returns the physical parameters;
docs/perturbations.md lists every mapping).

Usage::

    from metric.perturb import perturb, FAMILIES, Chain

    y = perturb(x, 16000, "white_noise", 0.3, seed=7)          # x: float [T] in [-1, 1]
    chain = Chain([("reverb", 0.4), ("mp3", 0.5)])
    y = chain(x, 16000, seed=7)                                 # one seed for the whole chain
    y = perturb(x, 16000, "babble", 0.5, seed=1, sources=[other_utterance, ...])  # sources required
    y = perturb(x, 16000, "noise_file", 0.5, noise_files=["fan.wav"])

The engine is :mod:`.engine`, the family registry :mod:`.registry`; each other module
registers one group of families. ``babble`` mixes the speech it is given (``sources=``;
:func:`metric.data.toy.babble_sources` is the toy corpus's training speech).
"""

from metric.extras import require

require("data", feature="metric.perturb (the perturbation engine of `cdpam data`, training and evaluation)")

from .engine import ADDITIVE_NOISE_FAMILIES, FAMILIES, NEEDS_OPTIONS, Chain, Link, describe, level_mapping, perturb, random_families
from .registry import Family, derived_seed, register

__all__ = [
    "ADDITIVE_NOISE_FAMILIES",
    "FAMILIES",
    "NEEDS_OPTIONS",
    "Chain",
    "Family",
    "Link",
    "derived_seed",
    "describe",
    "level_mapping",
    "perturb",
    "random_families",
    "register",
]
