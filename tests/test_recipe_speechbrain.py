"""The SpeechBrain recipe (recipes/speechbrain) run through its real entry points on a tiny slice.

train.py runs as a subprocess exactly as users run it, with SpeechBrain's own debug options
(``--debug --debug_batches=1``) limiting each stage to one batch; a SpeechBrain release that
changes Brain, HyperPyYAML, the data pipeline, MetricStats or the checkpointer breaks these tests.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import resample_poly

from metric import cdpam_distance, read_audio

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "speechbrain"

from recipe_scripts import load_script  # noqa: E402
prepare_data = load_script("speechbrain", "prepare_data").prepare_data

SAMPLE_RATE = 16000
TINY = ["--debug", "--debug_batches=1", "--debug_persistently", "--batch_size=2", "--noprogressbar"]


def run_train(hparams: str, *options: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "train.py", f"hparams/{hparams}.yaml", *options]
    result = subprocess.run(command, cwd=RECIPE, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Toy manifests, with a test manifest cut to its two shortest utterances (CDPAM is costly)."""
    root = tmp_path_factory.mktemp("sb_recipe")
    prepared = root / "prepared_toy"
    prepare_data(prepared, corpus="toy")
    test = json.loads((prepared / "test.json").read_text())
    shortest = dict(sorted(test.items(), key=lambda item: item[1]["duration"])[:2])
    (root / "test_short.json").write_text(json.dumps(shortest))
    return root


def tiny_options(workspace: Path, name: str, epochs: int = 1) -> list[str]:
    return [
        *TINY, f"--debug_epochs={epochs + 10}", f"--number_of_epochs={epochs}",
        f"--output_folder={workspace / name}", f"--prepared_folder={workspace / 'prepared_toy'}",
        f"--test_annotation={workspace / 'test_short.json'}",
    ]


@pytest.fixture(scope="module")
def baseline_run(workspace):
    return workspace / "baseline", run_train("baseline", *tiny_options(workspace, "baseline"))


@pytest.fixture(scope="module")
def cdpam_run(workspace):
    return workspace / "cdpam", run_train("cdpam", *tiny_options(workspace, "cdpam"))


def read_summary(folder: Path) -> dict:
    return json.loads((folder / "test_summary.json").read_text())


def test_cdpam_yaml_is_the_baseline_plus_the_cdpam_lines():
    baseline = (RECIPE / "hparams" / "baseline.yaml").read_text().splitlines()
    cdpam = (RECIPE / "hparams" / "cdpam.yaml").read_text().splitlines()
    diff = [line for line in difflib.unified_diff(baseline, cdpam, lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    removed = [line[1:] for line in diff if line.startswith("-")]
    added = [line[1:].strip() for line in diff if line.startswith("+")]
    assert removed == ["experiment: baseline"]
    assert "experiment: cdpam" in added
    assert "loss: !new:cdpam_plugins.CDPAMLoss" in added
    assert "metric: !new:cdpam_plugins.CDPAMPerUtterance" in added
    assert len([line for line in added if line and not line.startswith("#")]) <= 10


def test_baseline_trains_tests_and_writes_speechbrain_outputs(baseline_run, workspace):
    folder, _ = baseline_run
    summary = read_summary(folder)
    ids = set(json.loads((workspace / "test_short.json").read_text()))
    assert set(summary["per_utterance"]) == {"pesq", "stoi"}  # no CDPAM in the baseline
    assert set(summary["per_utterance"]["pesq"]) == ids
    assert 1.0 <= summary["averages"]["pesq"] <= 4.65
    assert 0.0 < summary["averages"]["stoi"] <= 1.0
    for utt_id in ids:
        enhanced, rate = sf.read(folder / "enhanced" / f"{utt_id}.wav")
        clean = sf.info(json.loads((workspace / "test_short.json").read_text())[utt_id]["clean_wav"])
        assert rate == SAMPLE_RATE and len(enhanced) == clean.frames
        assert np.abs(enhanced).max() > 1e-3  # the mask did not silence the speech
    log = (folder / "train_log.txt").read_text()
    assert re.search(r"epoch: 1, lr: .* - train loss: .* - valid loss: .*valid pesq: .*valid stoi", log), log
    assert "waveform_loss" not in log
    for name in ("pesq", "stoi"):
        assert (folder / f"test_{name}.txt").read_text().count("\n") > 2


def test_cdpam_yaml_adds_cdpam_to_the_objective_and_reports_it_per_utterance(cdpam_run, baseline_run):
    folder, _ = cdpam_run
    summary = read_summary(folder)
    assert set(summary["per_utterance"]) == {"pesq", "stoi", "cdpam"}
    cdpam_scores = list(summary["per_utterance"]["cdpam"].values())
    assert len(cdpam_scores) == 2 and all(0.0 < value < 3.0 for value in cdpam_scores)
    averages = summary["averages"]
    # the objective is the magnitude MSE plus the weighted CDPAM term
    assert averages["waveform_loss"] > 0
    assert math.isclose(averages["loss"], averages["spectral_loss"] + averages["waveform_loss"], rel_tol=1e-4)
    assert "train waveform_loss" in (folder / "train_log.txt").read_text()
    # the frozen CDPAM network stays out of the trainee's checkpoint
    checkpoints = {run: sorted((path / "save").glob("CKPT+*"))[-1] / "model.ckpt" for run, path in
                   (("cdpam", folder), ("baseline", baseline_run[0]))}
    states = {run: torch.load(path, map_location="cpu") for run, path in checkpoints.items()}
    assert states["cdpam"].keys() == states["baseline"].keys()
    assert not any("cdpam" in key or "encoder" in key for key in states["cdpam"])


def test_rerunning_continues_from_the_last_epoch(baseline_run, workspace):
    folder, _ = baseline_run
    second = run_train("baseline", *tiny_options(workspace, "baseline", epochs=2))
    output = second.stdout + second.stderr
    assert "Going into epoch 2" in output and "Going into epoch 1" not in output, output[-3000:]
    assert "Loading a checkpoint from" in output
    log = (folder / "train_log.txt").read_text()
    assert log.count("epoch: 1,") == 1 and log.count("epoch: 2,") == 1, log
    assert read_summary(folder)["epoch"] == 2


def test_evaluate_scores_every_system_from_its_files(baseline_run, cdpam_run, workspace, tmp_path):
    command = [sys.executable, "evaluate.py", "--test_annotation", str(workspace / "test_short.json"),
               "--system", f"baseline={baseline_run[0] / 'enhanced'}", "--system", f"cdpam={cdpam_run[0] / 'enhanced'}",
               "--output_folder", str(tmp_path)]
    result = subprocess.run(command, cwd=RECIPE, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-5000:]
    table = (tmp_path / "comparison.md").read_text()
    assert table.strip() in result.stdout
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [row.split("|")[1].strip() for row in rows] == ["noisy input", "baseline", "cdpam"]
    report = json.loads((tmp_path / "comparison.json").read_text())
    # the CDPAM run's own MetricStats and the re-scored 16-bit files agree
    reported = read_summary(cdpam_run[0])["per_utterance"]
    for utt_id, value in reported["cdpam"].items():
        assert abs(report["per_utterance"]["cdpam"]["cdpam"][utt_id] - value) < 0.02
        assert abs(report["per_utterance"]["cdpam"]["pesq"][utt_id] - reported["pesq"][utt_id]) < 0.05
    noisy = report["averages"]["noisy input"]
    assert noisy["cdpam"] != report["averages"]["baseline"]["cdpam"]
    # every system's distances are each file pair's, as cdpam_distance gives it alone
    entries = json.loads((workspace / "test_short.json").read_text())
    for system, folder in [("noisy input", None), ("baseline", baseline_run[0] / "enhanced")]:
        for utt_id, entry in entries.items():
            clean, rate = read_audio(entry["clean_wav"], mono=True)
            estimate, _ = read_audio(folder / f"{utt_id}.wav" if folder else entry["noisy_wav"], mono=True)
            alone = float(cdpam_distance(clean, estimate, rate)[0])
            assert abs(report["per_utterance"][system]["cdpam"][utt_id] - alone) < 1e-5


# -- Valentini layout ------------------------------------------------------------------
VALENTINI_FILES = {
    ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav"): ["p226_001", "p226_002", "p286_001"],
    ("clean_testset_wav", "noisy_testset_wav"): ["p232_001"],
}


def fake_valentini(root: Path) -> dict[str, int]:
    """The published folder layout with real speech at 48 kHz; returns the 48 kHz lengths."""
    speech, rate = sf.read(ROOT / "metric" / "assets" / "sample_audio" / "ref.wav", dtype="float32")
    speech48 = resample_poly(speech, 320, 147).astype(np.float32)  # 22050 -> 48000 Hz
    rng = np.random.default_rng(0)
    lengths = {}
    for (clean_dir, noisy_dir), ids in VALENTINI_FILES.items():
        (root / clean_dir).mkdir(parents=True)
        (root / noisy_dir).mkdir(parents=True)
        for index, utt_id in enumerate(ids):
            clean = speech48[: 48000 + 4800 * index]
            noisy = clean + 0.05 * rng.standard_normal(len(clean)).astype(np.float32)
            sf.write(root / clean_dir / f"{utt_id}.wav", clean, 48000)
            sf.write(root / noisy_dir / f"{utt_id}.wav", noisy, 48000)
            lengths[utt_id] = len(clean)
    return lengths


def test_valentini_layout_becomes_16khz_speechbrain_manifests(tmp_path):
    lengths = fake_valentini(tmp_path / "valentini")
    save = tmp_path / "prepared"
    written = prepare_data(save, corpus="valentini", data_folder=tmp_path / "valentini")
    manifests = {split: json.loads(path.read_text()) for split, path in written.items()}
    assert set(manifests["train"]) == {"p226_001", "p226_002"}
    assert set(manifests["valid"]) == {"p286_001"}  # held-out speakers
    assert set(manifests["test"]) == {"p232_001"}
    for split, entries in manifests.items():
        for utt_id, entry in entries.items():
            assert set(entry) == {"noisy_wav", "clean_wav", "duration"}
            for key in ("noisy_wav", "clean_wav"):
                path = Path(entry[key])
                assert path.is_relative_to(save)  # resampled copies, not the 48 kHz originals
                info = sf.info(path)
                assert info.samplerate == SAMPLE_RATE and info.frames == lengths[utt_id] // 3
            assert entry["duration"] == pytest.approx(lengths[utt_id] / 48000, abs=1e-3)
            original, _ = sf.read(tmp_path / "valentini" / ("clean_testset_wav" if split == "test"
                                                             else "clean_trainset_28spk_wav") / f"{utt_id}.wav")
            resampled, _ = sf.read(entry["clean_wav"])
            expected = resample_poly(original, 1, 3)
            assert np.corrcoef(resampled, expected)[0, 1] > 0.999
    header = (save / "train.csv").read_text().splitlines()[0]
    assert header == "ID,duration,noisy_wav,clean_wav"

    # SpeechBrain reads the manifest as it is written
    import speechbrain as sb

    dataset = sb.dataio.dataset.DynamicItemDataset.from_json(json_path=written["test"], output_keys=["id", "duration"])
    assert dataset[0] == {"id": "p232_001", "duration": manifests["test"]["p232_001"]["duration"]}

    # a second call with the same options keeps the manifests as they are
    stamp = written["train"].stat().st_mtime_ns
    prepare_data(save, corpus="valentini", data_folder=tmp_path / "valentini")
    assert written["train"].stat().st_mtime_ns == stamp


def test_valentini_errors_say_what_is_missing(tmp_path):
    (tmp_path / "clean_trainset_28spk_wav").mkdir()
    with pytest.raises(FileNotFoundError, match="noisy_trainset_28spk_wav"):
        prepare_data(tmp_path / "out", corpus="valentini", data_folder=tmp_path)
    with pytest.raises(ValueError, match="data_folder"):
        prepare_data(tmp_path / "out", corpus="valentini")
    with pytest.raises(ValueError, match="corpus"):
        prepare_data(tmp_path / "out", corpus="voicebank")


def test_run_sh_rejects_valentini_without_its_folder():
    result = subprocess.run(["bash", str(RECIPE / "run.sh"), "data=valentini"], capture_output=True, text=True)
    assert result.returncode == 2 and "path=" in result.stderr


@pytest.mark.slow
def test_train_py_runs_on_the_valentini_layout(tmp_path):
    fake_valentini(tmp_path / "valentini")
    run_train("baseline", *TINY, "--debug_epochs=1", "--corpus=valentini",
              f"--data_folder={tmp_path / 'valentini'}", f"--prepared_folder={tmp_path / 'prepared'}",
              f"--output_folder={tmp_path / 'run'}")
    summary = read_summary(tmp_path / "run")
    assert set(summary["per_utterance"]["pesq"]) == {"p232_001"}
    assert sf.info(tmp_path / "run" / "enhanced" / "p232_001.wav").samplerate == SAMPLE_RATE
