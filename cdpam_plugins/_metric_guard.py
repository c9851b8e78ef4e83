"""Make sure ``import metric`` finds cdpam-plugins' own ``metric`` package.

``metric`` is a generic top-level name: a user's ``metric.py`` in the working directory (or
anywhere earlier on ``sys.path``), or another distribution's ``metric`` package, would be
imported instead, and the failure would surface far from its cause. cdpam-plugins installs
``metric`` beside ``cdpam_plugins``, so any other location is a shadow.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

OWN_METRIC = Path(__file__).resolve().parent.parent / "metric"


class MetricShadowedError(ImportError):
    """Another module named ``metric`` hides the one cdpam-plugins needs."""


def _located_metric() -> str | None:
    """File that ``import metric`` runs (or ran), without importing it."""
    loaded = sys.modules.get("metric")
    if loaded is not None:
        return getattr(loaded, "__file__", None) or str(list(getattr(loaded, "__path__", [""]))[0])
    spec = importlib.util.find_spec("metric")
    if spec is None:
        return None
    return spec.origin or str(list(spec.submodule_search_locations or [""])[0])  # no origin: a namespace package


def _other_distributions() -> list[str]:
    from importlib.metadata import packages_distributions

    return sorted(name for name in packages_distributions().get("metric", []) if name.lower() != "cdpam-plugins")


def _shadow_error(found: str) -> MetricShadowedError:
    others = _other_distributions()
    owner = f" (installed by {', '.join(others)})" if others else ""
    return MetricShadowedError(
        f"cdpam_plugins needs its own 'metric' package ({OWN_METRIC}), but 'import metric' finds "
        f"{found}{owner}. Rename that file or folder (a script of yours named metric.py in the current "
        "directory or on PYTHONPATH is the usual cause; delete its __pycache__ too), or uninstall the "
        "other distribution that provides a top-level 'metric' (`pip uninstall NAME`)."
    )


def check_metric_package() -> None:
    """Raise :class:`MetricShadowedError` naming the shadowing file unless ``metric`` is ours."""
    found = _located_metric()
    if found is None:
        raise MetricShadowedError(f"cdpam_plugins needs its 'metric' package ({OWN_METRIC}), which is not "
                                  "installed: reinstall cdpam-plugins")
    if Path(found).resolve().parent != OWN_METRIC:
        raise _shadow_error(found)
    import metric

    if not hasattr(metric, "cdpam_distance"):  # another distribution's files written over ours
        raise _shadow_error(found)
