"""The paper's evaluation protocols (Manocha et al., ICASSP 2021, §4.1-4.2), baselines and reports.

* :mod:`.composite`     Hu & Loizou composite measures (CSIG, CBAK, COVL, segSNR, LLR, WSS)
"""

from .composite import BandLimitedReferenceError, composite

__all__ = ["composite", "BandLimitedReferenceError"]
