"""The DEMUCS loss comparison (compare.py): a test subset spread over the test split, and, slow, every
stage end to end at a tiny scale — weight search, choice on validation, equal-step training over
seeds (Finetune-CDPAM from the baseline's snapshot), evaluation and the summary with its statistics."""

import json

import pytest
import torch

from enhancement_pairs import write_speech_pairs
from recipe_scripts import load_script, recipe_dir

RECIPE = recipe_dir("demucs")
compare = load_script("demucs", "compare")


def test_a_test_subset_is_spread_over_the_whole_split():
    entries = [{"id": f"u{u}_c{c}"} for u in range(15) for c in range(4)]  # utterance-major, as test_large
    subset = compare.spread_subset(entries, 20)
    assert len(subset) == 20 and len({e["id"] for e in subset}) == 20
    assert {e["id"].split("_")[0] for e in subset} == {f"u{u}" for u in range(15)}  # every utterance
    assert compare.spread_subset(entries, None) == entries and compare.spread_subset(entries, 99) == entries
    with pytest.raises(ValueError, match="at least 1 file"):
        compare.spread_subset(entries, 0)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    """Noisy/clean pairs cut from real speech: 4 train, 2 valid, 3 test (with noise kinds), 16 kHz."""
    return write_speech_pairs(tmp_path_factory.mktemp("compare_pairs"), {"train": 4, "valid": 2, "test_large": 3},
                              lambda split: 16000, noise_std=0.05,
                              extra=lambda split, i: {"noise_kind": ["babble", "hum", "music"][i % 3]})


TINY = ["model.hidden=4", "model.depth=3", "data.batch_size=2", "data.segment_seconds=0.5", "data.stride_seconds=0.25",
        "data.shift=800", "data.val_every.from_scratch=2", "data.perceptual_valid_items=1",
        "data.perceptual_valid_seconds=0.5", "data.cdpam_segment_seconds=0.05", "trainer.log_every_n_steps=1"]


@pytest.mark.slow
def test_the_comparison_runs_every_stage_with_equal_steps(manifests, tmp_path):
    out = tmp_path / "compare"
    common = ["--manifest-dir", str(manifests), "--out", str(out), "--steps", "4", "--finetune-steps", "2",
              "--search-steps", "2", "--seeds", "1", "2", "--jobs", "2", "--nice", "0", "--select-files", "1"]
    searched = ["--variants", "baseline", "stoi"]
    compare.main(["search", *searched, *common, "--", *TINY])
    compare.main(["select", *searched, *common])
    chosen = json.loads((out / "search" / "weights.json").read_text())
    assert set(chosen) == {"stoi"} and chosen["stoi"]["weight"] in (0.3, 1.0, 3.0)
    assert "DEMUCS (w = 0)" in (out / "search" / "table.md").read_text()

    variants = ["--variants", "baseline", "stoi", "cdpam", "finetune"]
    compare.main(["train", *variants, *common, "--", *TINY])
    for name in ("baseline", "stoi", "cdpam"):
        for seed in (1, 2):
            info = torch.load(out / "runs" / name / f"seed{seed}" / "model.pt", weights_only=True)["training"]
            assert info["steps"] == 4 and info["seed"] == seed and info["selected_step"] in (2, 4)  # best validation
    stoi_run = torch.load(out / "runs" / "stoi" / "seed1" / "model.pt", weights_only=True)["training"]
    assert stoi_run["perceptual_weight"] == chosen["stoi"]["weight"]  # the search's choice, not the config's
    # Finetune-CDPAM: 2 of the 4 steps, from the same seed's baseline after 4 - 2 = 2 steps.
    fine = torch.load(out / "runs" / "finetune" / "seed1" / "model_last.pt", weights_only=True)["training"]
    assert fine["steps"] == 2 and fine["init_from"].endswith("runs/baseline/seed1/model_step2.pt")

    compare.main(["evaluate", *variants, *common])
    summary = compare.main(["summarize", *variants, *common]) or json.loads((out / "summary" / "summary.json").read_text())
    assert summary["seeds"] == [1, 2] and summary["files"] == 3
    rows = ["Noisy", "DEMUCS", "DEMUCS+NegSTOI", "DEMUCS+CDPAM", "Finetune-CDPAM"]
    assert list(summary["over_seeds"]) == rows
    assert all(summary["over_seeds"][row]["pesq"]["n"] == 2 for row in rows)
    assert set(summary["paired"]) == set(rows) - {"DEMUCS"}
    assert summary["marks"]["DEMUCS+NegSTOI"] == ["stoi"] and summary["marks"]["DEMUCS+CDPAM"] == ["cdpam"]
    table = (out / "summary" / "table.md").read_text()
    assert "*" in table and "CPU s / training step" in table
    assert (out / "summary" / "spectrograms.png").stat().st_size > 10_000
    flacs = sorted(p.name for p in (out / "summary" / "examples").glob("*.flac"))
    # The first test file of each example kind present (babble: test_large0, music: test_large2; no
    # speech-shaped noise here): clean, noisy and the 4 models each.
    assert len(flacs) == 2 * 6 and {name.split("_")[1] for name in flacs} == {"large0", "large2"}
    assert "test_large0_demucs_negstoi.flac" in flacs
