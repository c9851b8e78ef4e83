"""The paper's evaluation protocols (Manocha et al., ICASSP 2021, §4.1-4.2), baselines and reports.

Protocols (pure functions on distances; larger distance = more different):

* :mod:`.two_afc`       2AFC accuracy from listener triplets
* :mod:`.mos`           MOS Spearman correlation per speaker and condition
* :mod:`.monotonicity`  Spearman between distance and perturbation level ("Mono")
* :mod:`.common_area`   overlap of same-/different-acoustics distance distributions ("ComArea")
* :mod:`.retrieval`     clustered acoustic space, mean precision at K ("MP@10", "MP@20")

Around them:

* :mod:`.composite`     Hu & Loizou composite measures (CSIG, CBAK, COVL, segSNR, LLR, WSS)
* :mod:`.scorers`       CDPAM, checkpoints and baselines behind one interface
* :mod:`.testsets`      test sets from a corpus and the perturbation engine
* :mod:`.suite`         protocols x scorers on a test set
* :mod:`.report`        JSON, Markdown table, PNG plots
* :mod:`.cli`           ``cdpam evaluate``
"""

from metric.extras import require

# PESQ, STOI and the plots check for pesq, pystoi and matplotlib where they are used.
require("eval", "scipy", feature="metric.evaluate (`cdpam evaluate`)")

from .common_area import common_area
from .composite import BandLimitedReferenceError, composite
from .monotonicity import monotonicity
from .mos import mos_spearman
from .retrieval import mean_precision_at_k
from .scorers import Scorer, build_scorer
from .two_afc import two_afc_accuracy

__all__ = [
    "composite",
    "BandLimitedReferenceError",
    "two_afc_accuracy",
    "mos_spearman",
    "monotonicity",
    "common_area",
    "mean_precision_at_k",
    "Scorer",
    "build_scorer",
]
