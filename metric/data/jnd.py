"""Human just-noticeable-difference (JND) pairs of DPAM/CDPAM, read from the official label files.

The four label files (``dataset_{combined,linear,reverb,eq}.txt``, CC-BY 4.0, Manocha et
al., Interspeech 2020) ship with this package in ``metric/assets/jnd_labels/``. Each
row is ``reference_path <TAB> perturbed_path <TAB> label [<TAB> noise_type]`` with
label 0 = "sounds the same" and 1 = "sounds different". The audio (about 23 GB,
48 kHz wav) is downloaded separately; point ``root`` at the folder it was unzipped
into. Published layout under that root:

* ``combined``, ``reverb``, ``eq``: the paths as written in the file, e.g.
  ``<root>/combined_3/0.0_0.0_0.0_34.0_f7_script3_produced_clipped_100.0.wav``;
* ``linear``: ``<root>/<noise_type>_list/<file name>`` where ``noise_type`` is the
  fourth column (``crickets``, ``mp3``, ``reverb_noise``, ...).

Both waveforms of a pair are cropped to their common length so that one ``lengths``
tensor describes the pair (the official loader left-padded the shorter one instead; in
the released data the two files of a pair have the same length almost always).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from metric.io import read_audio

JND_SUBSETS = ("combined", "linear", "reverb", "eq")
LABEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "jnd_labels"


@dataclass(frozen=True)
class JNDPair:
    """One judgment: the two files (relative to the audio root), the human label and its subset."""

    reference: str
    perturbed: str
    label: int
    subset: str
    noise_type: str | None = None


def label_file(subset: str, label_dir: str | Path | None = None) -> Path:
    if subset not in JND_SUBSETS:
        raise ValueError(f"unknown JND subset {subset!r}; choose from {', '.join(JND_SUBSETS)}")
    return Path(label_dir or LABEL_DIR) / f"dataset_{subset}.txt"


def read_jnd_labels(subsets: Sequence[str] = JND_SUBSETS, label_dir: str | Path | None = None) -> list[JNDPair]:
    """Parse the label files into :class:`JNDPair` rows with paths in the published layout."""
    pairs = []
    for subset in subsets:
        path = label_file(subset, label_dir)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            fields = [f.strip() for f in line.split("\t")]
            if len(fields) < 3 or fields[2] not in ("0", "1"):
                raise ValueError(f"{path}:{number}: expected 'ref<TAB>perturbed<TAB>0|1[<TAB>...]', got {line!r}")
            reference, perturbed, label = fields[0], fields[1], int(fields[2])
            noise_type = fields[3] if len(fields) > 3 and fields[3] else None
            if subset == "linear":
                if noise_type is None:
                    raise ValueError(f"{path}:{number}: linear rows need a 4th column naming the noise type")
                reference, perturbed = f"{noise_type}_list/{reference}", f"{noise_type}_list/{perturbed}"
            pairs.append(JNDPair(reference, perturbed, label, subset, noise_type))
    return pairs


def missing_files(root: str | Path, pairs: Sequence[JNDPair]) -> list[Path]:
    """Files the pairs name that do not exist under ``root`` (each listed once, sorted)."""
    root = Path(root)
    names = {p.reference for p in pairs} | {p.perturbed for p in pairs}
    return sorted(root / n for n in names if not (root / n).is_file())


class JNDPairs(Dataset):
    """The human JND judgments as ``{"reference", "perturbed", "label", "subset", "source"}`` items.

    ``reference``/``perturbed`` are FloatTensors ``[T]`` at ``sample_rate`` (same length),
    ``label`` a float (0. same, 1. different), ``source`` is ``"jnd_human"``.

    Args:
        root: folder the JND audio was unzipped into (see the module docs for the layout).
        subsets: any of ``combined``, ``linear``, ``reverb``, ``eq``.
        sample_rate: output rate (the audio is 48 kHz; CDPAM works at 22,050 Hz).
        missing: what to do about label rows whose audio is not under ``root``:
            ``"error"`` (default) raises one error listing the missing files, ``"skip"``
            keeps only complete pairs (for a partial download; ``skipped`` says how
            many were dropped), ``"ignore"`` does not check (a huge, trusted download).
        label_dir: other label files in the same format (defaults to the shipped copies).
    """

    def __init__(self, root: str | Path, subsets: Sequence[str] = JND_SUBSETS, sample_rate: int = 22050,
                 missing: str = "error", label_dir: str | Path | None = None):
        if missing not in ("error", "skip", "ignore"):
            raise ValueError(f"missing must be 'error', 'skip' or 'ignore', got {missing!r}")
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"JND audio root not found: {self.root}. Download the JND audio of DPAM/CDPAM "
                "(PerceptualAudio project) and pass the folder it was unzipped into."
            )
        self.pairs = read_jnd_labels(subsets, label_dir)
        self.sample_rate = int(sample_rate)
        self.skipped = 0
        if missing == "skip":
            complete = [p for p in self.pairs if (self.root / p.reference).is_file() and (self.root / p.perturbed).is_file()]
            self.skipped = len(self.pairs) - len(complete)
            self.pairs = complete
            if not self.pairs:
                raise FileNotFoundError(f"none of the JND audio files named by the label files is under {self.root}")
        elif missing == "error":
            missing = missing_files(self.root, self.pairs)
            if missing:
                shown = "\n  ".join(str(p) for p in missing[:20])
                more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
                raise FileNotFoundError(
                    f"{len(missing)} JND audio files named by the label files are missing under {self.root}:\n  "
                    f"{shown}{more}\nExpected layout: <root>/combined_N/..., <root>/reverb_N/..., <root>/eq_1/..., "
                    "<root>/<noise_type>_list/... for the linear subset."
                )

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        pair = self.pairs[index]
        reference, _ = read_audio(self.root / pair.reference, self.sample_rate, mono=True)
        perturbed, _ = read_audio(self.root / pair.perturbed, self.sample_rate, mono=True)
        n = min(len(reference), len(perturbed))
        return {
            "reference": torch.from_numpy(np.ascontiguousarray(reference[:n])),
            "perturbed": torch.from_numpy(np.ascontiguousarray(perturbed[:n])),
            "label": float(pair.label),
            "subset": pair.subset,
            "source": "jnd_human",
        }
