"""Load the official CDPAM (PyPI ``cdpam==0.0.6``) for side-by-side benchmarks — benchmark-only shim.

The project never imports ``cdpam`` at run time; only the benchmark subprocesses do, to
time the official model code exactly as shipped. Three things stop that code from
loading on a current stack, and each is worked around *outside* the model code:

* ``cdpam/__init__.py`` and ``cdpam/cdpam.py`` import ``librosa`` and ``resampy`` (for
  its file loader, which the benchmark does not use): empty stand-in modules are put in
  ``sys.modules`` before the import.
* ``CDPAM(dev='cuda:0')`` is the default: the benchmark passes ``dev='cpu'``.
* its ``torch.load`` of the weights pickle fails under torch >= 2.6 (``weights_only``
  became the default): that one call is routed to :func:`metric.weights.read_official_pickle`,
  which verifies the file byte-for-byte against the released sha256 before unpickling it.

``cdpam.models`` (``base_encoder``, ``lossnet_dfl``, ``FINnet``) and ``CDPAM.forward`` run
unmodified.
"""

from __future__ import annotations

import sys
import types

from pathlib import Path

import torch


def load_official():
    """The official ``cdpam.CDPAM`` object on CPU, in eval mode, weights requiring grad (as shipped)."""
    for name in ("librosa", "resampy"):
        sys.modules.setdefault(name, types.ModuleType(name))
    import cdpam  # noqa: PLC0415 - benchmark subprocess only

    from metric.weights import read_official_pickle

    # The package's own code calls torch.load on its pickle; route that call through the
    # project's single, sha256-guarded unpickling function.
    original = torch.load

    def routed(path, map_location=None, **_):
        torch.load = original  # read_official_pickle calls torch.load itself
        try:
            return read_official_pickle(Path(path), map_location=map_location or "cpu")
        finally:
            torch.load = routed

    torch.load = routed
    try:
        return cdpam.CDPAM(dev="cpu")
    finally:
        torch.load = original
