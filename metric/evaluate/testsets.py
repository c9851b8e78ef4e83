"""Test sets of the protocols, built from a corpus and the perturbation engine.

* :func:`load_clips` cuts equal-length clips of distinct content from a corpus:
  ``"toy"`` (the embedded toy corpus, :mod:`metric.data.toy`, test split; ``"toy:train"``
  for another split), a folder of audio files, or ``"sample"`` (the three official
  sample clips shipped with the package).
* :func:`build_monotonicity_set`: every clip perturbed by each family, and each
  combination of families, at increasing levels; pairs (clean clip, perturbed clip).
* :func:`build_acoustic_groups`: ``N`` acoustic groups (a family at a level, or a chain),
  each the same clips perturbed identically: same acoustics, different content inside
  a group. MP@K retrieves within it; the common-area test samples pairs from it.

Both are *energy-controlled* by default, so that a metric cannot pass them by measuring
energy: additive noise is set relative to the clean clip (its level is an SNR,
``relative_to_signal=True`` of :mod:`metric.perturb`), every other family uses its own
parameter, and every clip gets one random gain (uniform in ``gain_db``, default -20..0 dB,
the range the paper's metric is trained to ignore), the same for the clean and the
perturbed file of a pair and different across clips. ``gain_db=(0, 0)`` and
``relative_noise=False`` give the JND data's absolute levels instead.

All randomness comes from explicit seeds, so a test set is the same on every run.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

DEFAULT_SAMPLE_RATE = 16000
SAMPLE_AUDIO_DIR = Path(__file__).resolve().parents[1] / "assets" / "sample_audio"

# Families whose level is a monotone "amount of damage" and that run without extra inputs.
DEFAULT_MONOTONICITY_FAMILIES: tuple[str, ...] = ("white_noise", "pink_noise", "reverb", "eq", "mp3", "mulaw", "pops", "dropout")
DEFAULT_COMBINATIONS: tuple[str, ...] = ("white_noise+reverb", "eq+mp3")
DEFAULT_LEVELS: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)
DEFAULT_CLIP_GAIN_DB: tuple[float, float] = (-20.0, 0.0)  # one random gain per clip (paper's invariance range)
# Ten acoustic groups: distinct families, and distinct levels of the same family.
DEFAULT_GROUPS: tuple[str, ...] = (
    "white_noise:0.3",
    "white_noise:0.8",
    "pink_noise:0.6",
    "reverb:0.4",
    "reverb:0.9",
    "eq:0.8",
    "mp3:0.7",
    "mulaw:0.6",
    "pops:0.6",
    "bandlimit:0.7",
)


@dataclass
class Clip:
    """An equal-length excerpt of one recording."""

    key: str
    waveform: np.ndarray  # float32 [T] at the set's sample rate
    source: str  # file (or utterance id) it was cut from
    speaker: str = ""


@dataclass
class PairSet:
    """Recordings and the (reference, degraded) pairs to score, with per-pair facts."""

    sample_rate: int
    clips: dict[str, np.ndarray] = field(default_factory=dict)
    pairs: list[tuple[str, str]] = field(default_factory=list)
    info: list[dict] = field(default_factory=list)


@dataclass
class GroupSet:
    """Perturbed recordings in acoustic groups: ``keys[i]`` is in group ``labels[i]`` with content ``contents[i]``."""

    sample_rate: int
    clips: dict[str, np.ndarray] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    contents: list[str] = field(default_factory=list)


def stable_seed(*parts) -> int:
    """A seed from text parts, identical in every process (unlike ``hash``)."""
    return zlib.crc32("|".join(map(str, parts)).encode())


def _corpus_recordings(corpus: str | Path | None, sample_rate: int) -> list[tuple[str, str, np.ndarray]]:
    """``(name, speaker, mono waveform at sample_rate)`` for every recording of the corpus."""
    from metric.io import AUDIO_SUFFIXES, read_audio

    if corpus is None or str(corpus) == "sample":
        files = sorted(SAMPLE_AUDIO_DIR.glob("*.wav"))
        entries = [(path.stem, "", path) for path in files]
    elif str(corpus) == "toy" or str(corpus).startswith("toy:"):
        from metric.data import toy  # raises ToyCorpusMissingError (a FileNotFoundError) in a wheel install
        split = str(corpus).partition(":")[2]
        if not split:  # held-out speakers by default: checkpoints trained on "train" never heard them
            split = "test" if _has_split(toy, "test") else "train"
        utterances = toy.utterances(split, sample_rate)
        entries = [(u.utterance_id, u.speaker, Path(u.path)) for u in utterances]
    else:
        folder = Path(corpus).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"corpus {folder} is not a folder; pass 'toy' or a folder of audio files")
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no audio files ({', '.join(sorted(AUDIO_SUFFIXES))}) under {folder}")
        entries = [(str(p.relative_to(folder).with_suffix("")), p.parent.name, p) for p in files]
    recordings = []
    for name, speaker, path in entries:
        recordings.append((name, speaker, read_audio(path, sample_rate, mono=True)[0]))
    return recordings


def _has_split(toy_module, split: str) -> bool:
    try:
        return len(toy_module.utterances(split, DEFAULT_SAMPLE_RATE)) > 0
    except (ValueError, KeyError, FileNotFoundError):
        return False


def _speech_windows(x: np.ndarray, length: int) -> list[np.ndarray]:
    """Non-overlapping ``length``-sample windows of ``x``, loudest first, dropping near-silent ones."""
    if len(x) <= length:
        return [np.pad(x, (0, length - len(x)))]
    windows = [x[start : start + length] for start in range(0, len(x) - length + 1, length)]
    energy = np.array([np.mean(w.astype(np.float64) ** 2) for w in windows])
    keep = energy >= 1e-3 * energy.max()  # within 30 dB of the loudest window
    order = np.argsort(-energy)
    return [windows[i] for i in order if keep[i]]


def _interleave_speakers(recordings: list) -> list:
    """Round-robin over speakers (first recording of each speaker, then the second, ...),
    so that a small test set still spans several voices."""
    by_speaker: dict[str, list] = {}
    for recording in recordings:
        by_speaker.setdefault(recording[1], []).append(recording)
    queues = list(by_speaker.values())
    ordered = []
    for depth in range(max(len(q) for q in queues)):
        ordered += [q[depth] for q in queues if depth < len(q)]
    return ordered


def load_clips(
    corpus: str | Path | None = "toy", count: int | None = 21, seconds: float = 1.0, sample_rate: int = DEFAULT_SAMPLE_RATE
) -> list[Clip]:
    """``count`` clips of ``seconds`` with distinct content (``None``: every such clip the corpus gives).

    Recordings are taken round-robin over speakers; each gives its loudest window first; when the corpus has fewer
    recordings than ``count``, further (non-overlapping) windows of the same recordings
    are used, so the content still differs between clips.
    """
    length = int(round(seconds * sample_rate))
    recordings = _corpus_recordings(corpus, sample_rate)
    per_recording = [(name, speaker, _speech_windows(x, length)) for name, speaker, x in _interleave_speakers(recordings)]
    clips: list[Clip] = []
    depth = 0
    wanted = float("inf") if count is None else count
    while len(clips) < wanted and any(depth < len(windows) for _, _, windows in per_recording):
        for name, speaker, windows in per_recording:
            if depth < len(windows) and len(clips) < wanted:
                key = name if depth == 0 else f"{name}#{depth}"
                clips.append(Clip(key, np.ascontiguousarray(windows[depth], dtype=np.float32), name, speaker))
        depth += 1
    if count is not None and len(clips) < count:
        raise ValueError(
            f"the corpus {corpus!r} gives only {len(clips)} distinct {seconds:g}-second clips, {count} needed; "
            "use a larger corpus, shorter --seconds or a smaller test set"
        )
    return clips


def _apply(spec: str, waveform: np.ndarray, sample_rate: int, seed: int, sources: Sequence[np.ndarray],
           relative_noise: bool = True) -> np.ndarray:
    from metric.perturb import ADDITIVE_NOISE_FAMILIES, Chain

    links = []
    for link in Chain.parse(spec).links:
        options = {"sources": list(sources)} if link.family == "babble" else {}  # babble: the set's other clips
        if relative_noise and link.family in ADDITIVE_NOISE_FAMILIES:
            options["relative_to_signal"] = True
        links.append((link.family, link.level, options))
    return Chain(links)(waveform, sample_rate, seed=seed)


def clip_gain(gain_db: tuple[float, float], *seed_parts) -> float:
    """A linear gain uniform in ``gain_db`` (dB), drawn from a seed made of ``seed_parts``."""
    low, high = float(gain_db[0]), float(gain_db[1])
    if low > high:
        raise ValueError(f"gain_db must be (low, high) in dB, got {gain_db}")
    return float(10.0 ** (np.random.default_rng(stable_seed("gain", *seed_parts)).uniform(low, high) / 20.0))


def build_monotonicity_set(
    clips: Sequence[Clip],
    families: Sequence[str] = DEFAULT_MONOTONICITY_FAMILIES,
    combinations: Sequence[str] = DEFAULT_COMBINATIONS,
    levels: Sequence[float] = DEFAULT_LEVELS,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    seed: int = 0,
    progress: bool = True,
    gain_db: tuple[float, float] = DEFAULT_CLIP_GAIN_DB,
    relative_noise: bool = True,
) -> PairSet:
    """Pairs (clean clip, clip perturbed at each level) for each family and each combination.

    A combination ``"a+b"`` applies every family in it at the same level. Each clip gets one
    gain from ``gain_db``, applied to its clean version and every perturbed version (after
    perturbing); with ``relative_noise`` additive noise is set as an SNR to the clean clip.
    """
    from tqdm.auto import tqdm

    result = PairSet(sample_rate)
    gains = {clip.key: clip_gain(gain_db, seed, clip.key) for clip in clips}
    for clip in clips:
        result.clips[clip.key] = (clip.waveform * gains[clip.key]).astype(np.float32)
    conditions = [(family, family) for family in families] + [(combo, combo) for combo in combinations]
    jobs = [(name, spec, level, clip) for name, spec in conditions for level in levels for clip in clips]
    for name, spec, level, clip in tqdm(jobs, desc="perturbing", unit="clip", leave=False, disable=not progress):
        chain = "+".join(f"{part}:{level:g}" for part in spec.split("+"))
        others = [c.waveform for c in clips if c.key != clip.key]
        degraded = _apply(chain, clip.waveform, sample_rate, stable_seed(seed, name, clip.key), others, relative_noise)
        key = f"monotonicity/{clip.key}|{chain}"
        result.clips[key] = (degraded * gains[clip.key]).astype(np.float32)
        result.pairs.append((clip.key, key))
        result.info.append({"family": name, "level": float(level), "content": clip.key, "combined": "+" in spec,
                            "gain_db": float(20 * np.log10(gains[clip.key]))})
    return result


def build_acoustic_groups(
    clips: Sequence[Clip],
    groups: Sequence[str] = DEFAULT_GROUPS,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    seed: int = 0,
    progress: bool = True,
    gain_db: tuple[float, float] = DEFAULT_CLIP_GAIN_DB,
    relative_noise: bool = True,
) -> GroupSet:
    """Each group spec (``"family:level"`` or a chain ``"a:l+b:l"``) applied to every clip.

    A group's files share the perturbation (and its random draws: one seed per group,
    as the contrastive acoustic pairs of CDPAM share perturbation parameters) and
    differ in content. Every file gets its own gain from ``gain_db`` (after perturbing),
    so that loudness does not tell the groups apart.
    """
    from tqdm.auto import tqdm

    if len(set(groups)) != len(groups):
        raise ValueError("acoustic group specs must be distinct")
    result = GroupSet(sample_rate)
    jobs = [(spec, clip) for spec in groups for clip in clips]
    for spec, clip in tqdm(jobs, desc="perturbing", unit="clip", leave=False, disable=not progress):
        others = [c.waveform for c in clips if c.key != clip.key]
        key = f"group/{clip.key}|{spec}"
        perturbed = _apply(spec, clip.waveform, sample_rate, stable_seed(seed, spec), others, relative_noise)
        result.clips[key] = (perturbed * clip_gain(gain_db, seed, spec, clip.key)).astype(np.float32)
        result.keys.append(key)
        result.labels.append(spec)
        result.contents.append(clip.key)
    return result


def sample_common_area_pairs(groups: GroupSet, count: int = 200, seed: int = 0) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``count`` same-acoustic/different-content and ``count`` different-acoustic/different-content pairs.

    Sampled without replacement (fewer if the set has fewer such pairs).
    """
    rng = np.random.default_rng(seed)
    n = len(groups.keys)
    same, different = [], []
    for i in range(n):
        for j in range(n):
            if i == j or groups.contents[i] == groups.contents[j]:
                continue
            (same if groups.labels[i] == groups.labels[j] else different).append((groups.keys[i], groups.keys[j]))

    def pick(pairs):
        if len(pairs) <= count:
            return pairs
        return [pairs[i] for i in sorted(rng.choice(len(pairs), size=count, replace=False))]

    return pick(same), pick(different)


def retrieval_queries(groups: GroupSet, per_group: int | None = None, seed: int = 0) -> list[int]:
    """Indices of the query files: ``per_group`` random files of each group (``None`` = all)."""
    if per_group is None:
        return list(range(len(groups.keys)))
    rng = np.random.default_rng(seed)
    queries = []
    for label in dict.fromkeys(groups.labels):
        members = [i for i, l in enumerate(groups.labels) if l == label]
        queries += sorted(rng.choice(members, size=min(per_group, len(members)), replace=False).tolist())
    return queries
