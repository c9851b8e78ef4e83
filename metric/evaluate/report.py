"""Reports of an evaluation: JSON, a Markdown table in the paper's layout, PNG plots.

The table has one row per metric and one column per protocol figure, like the
paper's Table 3 (``ComArea``, ``Mono``) plus MP@10/MP@20 (§4.2), 2AFC (Table 2) and
MOS Spearman (Table 1). ``Mono`` pools the recordings of a family (distances of different
recordings must share one scale); ``Mono within`` is the mean over recordings of each
one's own Spearman correlation. A row "CDPAM (paper)" repeats the published figures.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from metric.extras import require

# (protocol, key, column title, higher is better)
COLUMNS: tuple[tuple[str, str, str, bool], ...] = (
    ("monotonicity", "mono", "Mono ↑", True),
    ("monotonicity", "mono_within_content", "Mono within ↑", True),
    ("common_area", "common_area", "ComArea ↓", False),
    ("retrieval", "mp@10", "MP@10 ↑", True),
    ("retrieval", "mp@20", "MP@20 ↑", True),
    ("2afc", "2afc", "2AFC ↑", True),
    ("mos", "mos_spearman", "MOS SC ↑", True),
)
# Manocha et al., ICASSP 2021: Table 3 (+JND+fine-tune) and §4.2.
PAPER_CDPAM = {"mono": 0.89, "common_area": 0.32, "mp@10": 0.92, "mp@20": 0.87}


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _clean(value):
    """NaN/inf are not JSON: write them as null."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(results: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(json.loads(json.dumps(results, default=_json_default))), indent=1) + "\n")
    return path


def markdown_table(protocol_results: list[dict], include_paper: bool = True) -> str:
    """Rows = metrics, columns = the protocol figures present in ``protocol_results``."""
    by_protocol = {result["protocol"]: result for result in protocol_results}
    columns = [c for c in COLUMNS if c[0] in by_protocol]
    metric_names = list(dict.fromkeys(name for r in protocol_results for name in r["metrics"]))
    lines = ["| metric | " + " | ".join(c[2] for c in columns) + " |", "|---|" + "---|" * len(columns)]

    def cell(value) -> str:
        return "–" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.3f}"

    best = {}
    for protocol, key, _, higher in columns:
        values = [by_protocol[protocol]["metrics"][m].get(key) for m in metric_names if m in by_protocol[protocol]["metrics"]]
        values = [v for v in values if v is not None and math.isfinite(v)]
        if values:
            best[(protocol, key)] = max(values) if higher else min(values)
    for name in metric_names:
        cells = []
        for protocol, key, _, _ in columns:
            value = by_protocol[protocol]["metrics"].get(name, {}).get(key)
            text = cell(value)
            if value is not None and best.get((protocol, key)) == value and len(metric_names) > 1:
                text = f"**{text}**"
            cells.append(text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if include_paper and any(key in PAPER_CDPAM for _, key, _, _ in columns):
        lines.append("| CDPAM (paper) | " + " | ".join(cell(PAPER_CDPAM.get(key)) for _, key, _, _ in columns) + " |")
    return "\n".join(lines) + "\n"


def describe_test_sets(protocol_results: list[dict]) -> str:
    lines = []
    for result in protocol_results:
        sizes = ", ".join(f"{k}={v}" for k, v in result["test_set"].items() if not isinstance(v, (list, dict)))
        lines.append(f"- {result['protocol']}: {sizes}")
    return "\n".join(lines) + "\n"


def _pyplot():
    require("eval", "matplotlib", feature="the evaluation plots")
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def plot_monotonicity(result: dict, out_dir: Path) -> list[Path]:
    """One PNG per metric: mean distance against perturbation level, one line per family."""
    plt = _pyplot()
    raw = result["raw"]
    families = np.array(raw["families"])
    levels = np.array(raw["levels"], dtype=float)
    written = []
    for metric, distances in raw["distances"].items():
        distances = np.array(distances, dtype=float)
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for family in dict.fromkeys(raw["families"]):
            mask = families == family
            xs = sorted(set(levels[mask]))
            means = [np.nanmean(distances[mask & (levels == x)]) for x in xs]
            ax.plot(xs, means, marker="o", linestyle="--" if "+" in family else "-", label=family)
        sc = result["metrics"][metric]["mono"]
        negated = result["metrics"][metric].get("higher_is_better", False)
        ax.set(xlabel="perturbation level", ylabel=f"−{metric} (negated score)" if negated else f"{metric} distance",
               title=f"{metric}: distance vs level (Mono = {sc:.2f})")
        ax.legend(fontsize=7, ncol=2)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"monotonicity_{_safe(metric)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def plot_common_area(result: dict, out_dir: Path) -> list[Path]:
    """One PNG per metric: the two normalised distance histograms and their overlap."""
    from .common_area import histograms

    plt = _pyplot()
    bins = result["test_set"]["bins"]
    written = []
    for metric, raw in result["raw"].items():
        edges, p_same, p_diff = histograms(raw["same"], raw["different"], bins)
        centres = 0.5 * (edges[1:] + edges[:-1])
        width = edges[1] - edges[0]
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        ax.bar(centres, p_same, width=width, alpha=0.55, label="same acoustics, different content")
        ax.bar(centres, p_diff, width=width, alpha=0.55, label="different acoustics, different content")
        ax.step(edges[:-1], np.minimum(p_same, p_diff), where="post", color="k", linewidth=1, label="common area")
        area = result["metrics"][metric]["common_area"]
        ax.set(xlabel="normalised distance", ylabel="fraction of pairs", title=f"{metric}: common area = {area:.2f}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out_dir / f"common_area_{_safe(metric)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def write_reports(protocol_results: list[dict], out_dir: str | Path, command: str = "", plots: bool = True) -> dict[str, Path]:
    """``results.json``, ``results.md`` and the plots under ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"json": write_json({"command": command, "results": protocol_results}, out_dir / "results.json")}
    markdown = "# CDPAM evaluation\n\n"
    if command:
        markdown += f"Command: `{command}`\n\n"
    markdown += markdown_table(protocol_results) + "\nTest sets:\n\n" + describe_test_sets(protocol_results)
    for result in protocol_results:
        if result["protocol"] == "monotonicity":
            markdown += "\nMonotonicity per family (Spearman, recordings pooled):\n\n" + _per_family_table(result)
    (out_dir / "results.md").write_text(markdown)
    written["markdown"] = out_dir / "results.md"
    if plots:
        for result in protocol_results:
            if result["protocol"] == "monotonicity":
                for i, path in enumerate(plot_monotonicity(result, out_dir)):
                    written[f"monotonicity_plot_{i}"] = path
            if result["protocol"] == "common_area":
                for i, path in enumerate(plot_common_area(result, out_dir)):
                    written[f"common_area_plot_{i}"] = path
    return written


def _per_family_table(result: dict) -> str:
    metrics = list(result["metrics"])
    families = list(dict.fromkeys(result["raw"]["families"]))
    lines = ["| family | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    text = lambda v: "–" if v is None or not math.isfinite(v) else f"{v:.2f}"  # noqa: E731
    for family in families:
        values = [result["metrics"][m]["per_family"].get(family) for m in metrics]
        lines.append(f"| {family} | " + " | ".join(text(v) for v in values) + " |")
    for key, title in (("mono_individual", "individual (mean)"), ("mono_combined", "combined (mean)"),
                       ("mono_within_content", "within each recording (mean)")):
        lines.append(f"| *{title}* | " + " | ".join(text(result["metrics"][m].get(key)) for m in metrics) + " |")
    return "\n".join(lines) + "\n"
