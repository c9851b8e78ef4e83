"""``trainer.strategy=ddp`` with two CPU processes on the gloo backend: the ranks train on
disjoint shards in lock-step and rank 0 writes the checkpoint and the export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict

import torch

from metric.weights import load_network



def test_two_process_ddp_on_gloo(tmp_path):
    folder = tmp_path / "ddp"
    trace = folder / "trace.jsonl"
    command = [
        sys.executable, "-m", "metric.cli", "train", "stage=contrastive", "preset=toy_fast", f"output_dir={folder}",
        "trainer.accelerator=cpu", "trainer.strategy=ddp", "trainer.devices=2", "threads=1",
        "data.segment_seconds=0.25", "data.train_size=8", "data.val_size=4", "optim.batch_size=2",
        "trainer.max_steps=2", "trainer.enable_progress_bar=false", "evaluation.enabled=false",
        "stage.augment.silence_seconds=0.05", f"debug.trace_batches={trace}",
    ]
    env = {key: value for key, value in os.environ.items() if key not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK")}
    finished = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert finished.returncode == 0, finished.stderr[-4000:]
    assert "gloo" in finished.stderr or "distributed_backend=gloo" in finished.stdout + finished.stderr

    records = [json.loads(line) for line in trace.read_text().splitlines()]
    by_step = defaultdict(dict)
    for record in records:
        by_step[record["step"]][record["rank"]] = set(record["indices"])
    assert sorted(by_step) == [0, 1]
    for step, ranks in by_step.items():
        assert sorted(ranks) == [0, 1], f"step {step} ran on ranks {sorted(ranks)}"
        assert not ranks[0] & ranks[1], "both ranks trained on the same items"

    progress = json.loads((folder / "progress.json").read_text())
    assert progress["global_step"] == 2
    run_record = json.loads((folder / "run.json").read_text())
    assert len(run_record["starts"]) == 1  # written once, by rank 0
    network = load_network(run_record["starts"][0]["summary"]["export"])
    checkpoint = torch.load(folder / "last.ckpt", map_location="cpu", weights_only=True)
    for key, value in network.encoder.state_dict().items():
        assert torch.equal(value, checkpoint["state_dict"][f"encoder.{key}"])
