"""Keep NumPy's and SciPy's BLAS single-threaded during an evaluation run (through ``threadpoolctl``).

The baselines make millions of tiny BLAS calls (dot products of one clip, STOI's
band matrices). On a machine whose cores are busy, a multi-threaded OpenBLAS spends
far longer waking and synchronising its threads than computing: a 12,000-sample dot
product measured 16 ms with two threads under load and 2 µs with one. The CDPAM
encoder runs in PyTorch's own thread pool and is unaffected.
"""

from __future__ import annotations

from metric.extras import require

require("eval", "threadpoolctl", feature="cdpam evaluate's BLAS thread limit")

from threadpoolctl import threadpool_info, threadpool_limits


def limit_blas_threads(threads: int = 1) -> int:
    """Limit every loaded BLAS library to ``threads`` threads for the rest of the process.

    Returns how many BLAS libraries were limited (0 where none is loaded).
    """
    import numpy  # noqa: F401  (load the BLAS libraries NumPy and SciPy bundle, so that threadpoolctl sees them)
    import scipy.linalg  # noqa: F401

    threadpool_limits(limits=int(threads), user_api="blas")
    return sum(1 for library in threadpool_info() if library.get("user_api") == "blas")
