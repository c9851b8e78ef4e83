"""Optional parts of cdpam-plugins and the pip extra that installs each.

``pip install cdpam-plugins`` brings what scoring needs (``cdpam_distance``, ``CDPAM``,
``CDPAMLoss``, ``CDPAMMetric``, ``cdpam score``). The other parts check for their own
dependencies when they are imported and, when one is missing, raise :class:`MissingExtraError`
(an ``ImportError``) that says which extra to install::

    from metric.extras import require
    require("eval", "pesq", feature="PESQ")     # before `from pesq import pesq`
"""

from __future__ import annotations

import importlib.util

DISTRIBUTION = "cdpam-plugins"

# extra name -> import names it provides (pyproject.toml's [project.optional-dependencies])
EXTRAS: dict[str, tuple[str, ...]] = {
    "data": ("scipy",),
    "eval": ("scipy", "pesq", "pystoi", "matplotlib", "threadpoolctl"),
    "train": ("scipy", "pytorch_lightning", "hydra", "omegaconf", "tensorboard"),
}


class MissingExtraError(ImportError):
    """A part of cdpam-plugins was used without the optional dependencies it needs."""

    def __init__(self, message: str, extra: str, missing: list[str]):
        super().__init__(message, name=missing[0])
        self.extra = extra
        self.missing = missing


def install_command(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def require(extra: str, *modules: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` unless every module (default: all of ``extra``'s) is installed.

    Only looks the modules up (no import), so it costs microseconds and never half-imports one.
    """
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}")
    missing = [name for name in (modules or EXTRAS[extra]) if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(
            f"{feature} needs {', '.join(missing)}, which the core install of {DISTRIBUTION} leaves out; "
            f"install the '{extra}' extra: {install_command(extra)}",
            extra=extra,
            missing=missing,
        )
