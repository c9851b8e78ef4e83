"""Stages (b) and (c) on data in the published formats: the human JND label files over a fake
audio tree (the real audio is a 23 GB download), and a triplet CSV."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from metric.data.jnd import read_jnd_labels
from metric.data.toy import utterances
from metric.perturb import perturb
from metric.train.runner import compose_config, run

FAST = ["model=tiny", "stage.init_from=null", "optim.batch_size=2", "trainer.max_epochs=1", "trainer.log_every_n_steps=1",
        "trainer.enable_progress_bar=false", "evaluation.enabled=false"]


def test_jnd_stage_on_the_official_label_files(tmp_path):
    pairs = [p for p in read_jnd_labels(["eq"])][:8]
    rng = np.random.default_rng(0)
    for name in {p.reference for p in pairs} | {p.perturbed for p in pairs}:
        path = tmp_path / "jnd" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        sf.write(buffer, 0.1 * rng.standard_normal(4800), 48000, format="WAV", subtype="PCM_16")  # 0.1 s at 48 kHz
        path.write_bytes(buffer.getvalue())
    summary = run(compose_config(["stage=jnd", "data=jnd", f"data.jnd_root={tmp_path / 'jnd'}", "data.subsets=[eq]",
                                  "data.missing=skip", "data.num_workers=0", "data.val_fraction=0.25",
                                  f"output_dir={tmp_path / 'run'}", *FAST]))
    assert summary["global_step"] == 3  # 6 training pairs (2 held out) in batches of 2
    metrics = next((tmp_path / "run" / "logs" / "csv").rglob("metrics.csv")).read_text()
    assert "val_acc" in metrics


def test_triplet_stage_on_a_triplet_csv(tmp_path):
    rows = ["reference,a,b,preference"]
    for i, utterance in enumerate(utterances("train", 22050)[:6]):
        clean, rate = sf.read(utterance.path, dtype="float32")
        clean = clean[: rate // 4]
        sf.write(tmp_path / f"ref{i}.wav", clean, rate)
        sf.write(tmp_path / f"mild{i}.wav", perturb(clean, rate, "white_noise", 0.2, seed=i), rate)
        sf.write(tmp_path / f"strong{i}.wav", perturb(clean, rate, "white_noise", 0.8, seed=i), rate)
        a, b, preference = (f"mild{i}.wav", f"strong{i}.wav", 0.9) if i % 2 else (f"strong{i}.wav", f"mild{i}.wav", 0.1)
        rows.append(f"ref{i}.wav,{a},{b},{preference}")
    (tmp_path / "triplets.csv").write_text("\n".join(rows) + "\n")
    summary = run(compose_config(["stage=triplet", "data=triplets", f"data.csv={tmp_path / 'triplets.csv'}",
                                  "data.num_workers=0", "data.val_fraction=0.34", f"output_dir={tmp_path / 'run'}", *FAST]))
    assert summary["global_step"] == 2  # 4 training triplets (2 held out) in batches of 2
    metrics = next((tmp_path / "run" / "logs" / "csv").rglob("metrics.csv")).read_text()
    assert "val_2afc" in metrics
