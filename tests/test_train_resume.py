"""A training run killed with SIGKILL mid-epoch resumes with one flag and ends exactly where an
uninterrupted run ends: same final step count, and every step trains on the same items."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from metric.train.data import EpochSampler

ITEMS, BATCH, EPOCHS = 24, 2, 2
STEPS_PER_EPOCH = ITEMS // BATCH


def _command(folder: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "metric.cli", "train", "stage=contrastive", "preset=toy_fast", f"output_dir={folder}",
        "data.segment_seconds=0.25", f"data.train_size={ITEMS}", "data.val_size=2", f"optim.batch_size={BATCH}",
        f"trainer.max_epochs={EPOCHS}", "checkpoint.every_n_steps=2", "trainer.enable_progress_bar=false",
        "trainer.limit_val_batches=1", "evaluation.enabled=false", "export.enabled=false", "threads=1",
        "stage.augment.silence_seconds=0.05", f"debug.trace_batches={folder / 'trace.jsonl'}", *extra,
    ]


def _progress(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "progress.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def test_sigkill_mid_epoch_then_resume_reaches_the_same_final_step(tmp_path):
    folder = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(_command(folder), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 600
    try:
        while time.time() < deadline:
            progress = _progress(folder)
            if progress and progress["epoch"] == 1 and 2 <= progress["batch_in_epoch"] < STEPS_PER_EPOCH - 4:
                break
            assert process.poll() is None, process.stderr.read().decode()[-3000:]
            time.sleep(0.05)
        else:
            raise AssertionError("the run never reached the middle of its second epoch")
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
        process.stderr.close()
    killed_at = _progress(folder)
    assert 0 < killed_at["global_step"] < EPOCHS * STEPS_PER_EPOCH
    assert not list(folder.glob(".*.tmp")) or all(p.stat().st_size >= 0 for p in folder.glob(".*.tmp"))

    finished = subprocess.run(_command(folder, "resume=true"), capture_output=True, text=True, env=env, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert _progress(folder)["global_step"] == EPOCHS * STEPS_PER_EPOCH
    starts = json.loads((folder / "run.json").read_text())["starts"]
    assert starts[-1]["resumed_from"].endswith("last.ckpt")
    assert starts[-1]["summary"]["global_step"] == EPOCHS * STEPS_PER_EPOCH

    # Every step 0..N-1 trained on the batch an uninterrupted run takes at that step; steps run
    # between the last checkpoint and the kill were repeated with the same items, nothing skipped.
    records = [json.loads(line) for line in (folder / "trace.jsonl").read_text().splitlines()]
    by_step = defaultdict(list)
    for record in records:
        by_step[record["step"]].append(record["indices"])
    assert sorted(by_step) == list(range(EPOCHS * STEPS_PER_EPOCH))
    assert len(by_step[0]) == 1, "the resumed run started over instead of continuing"
    sampler = EpochSampler(ITEMS, shuffle=True, seed=0)
    for step, batches in by_step.items():
        epoch, position = divmod(step, STEPS_PER_EPOCH)
        expected = sampler.order(epoch)[position * BATCH : (position + 1) * BATCH]
        assert all(batch == expected for batch in batches), (step, batches, expected)
