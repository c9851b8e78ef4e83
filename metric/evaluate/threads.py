"""Keep NumPy's bundled OpenBLAS single-threaded during an evaluation run.

The baselines make millions of tiny BLAS calls (dot products of one clip, STOI's
band matrices). On a machine whose cores are busy, a multi-threaded OpenBLAS spends
far longer waking and synchronising its threads than computing: a 12,000-sample dot
product measured 16 ms with two threads under load and 2 µs with one. The CDPAM
encoder runs in PyTorch's own thread pool and is unaffected.
"""

from __future__ import annotations

import ctypes
import glob
import os

# Names of the thread-count setter in the OpenBLAS builds that NumPy/SciPy wheels bundle.
_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_", "openblas_set_num_threads")


def _bundled_openblas_libraries() -> list[str]:
    paths = []
    for package in ("numpy", "scipy"):
        try:
            module = __import__(package)
        except ImportError:
            continue
        libs = os.path.join(os.path.dirname(module.__file__), os.pardir, f"{package}.libs")
        paths += glob.glob(os.path.join(libs, "*openblas*"))
    return paths


def limit_blas_threads(threads: int = 1) -> int:
    """Set the bundled OpenBLAS libraries to ``threads`` threads; returns how many were set.

    A no-op (returning 0) where NumPy/SciPy use another BLAS or none is found.
    """
    count = 0
    for path in _bundled_openblas_libraries():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(library, name, None)
            if setter is not None:
                setter(int(threads))
                count += 1
                break
    return count
