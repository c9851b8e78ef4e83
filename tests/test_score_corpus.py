"""Corpus-scale scoring (`metric.score_folders`, `cdpam score`): batching, systems, failures, resume, torchrun."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import metric
from metric import CDPAM, CDPAMNetwork, cdpam_distance, read_audio, save_network, score_folders
from metric.cli import main
from metric.extras import MissingExtraError
from metric.scoring import loading
from metric.scoring.batching import plan_batches
from metric.scoring.corpus import ScoringInputError
from metric.scoring.progress import Progress
from metric.scoring.statistics import save_histogram, summarize

REPO = Path(__file__).resolve().parent.parent
TOY = REPO / "metric" / "assets" / "toy_corpus" / "enhancement" / "test"
SYSTEMS = {"sysA": lambda clean, noisy: noisy, "sysB": lambda clean, noisy: 0.5 * (clean + noisy)}


def toy_folders(root: Path, seconds: list[float], systems=("sysA",), rate: int = 16000) -> tuple[Path, list[Path]]:
    """A reference folder of toy-corpus speech cut to ``seconds`` and one folder per system (same names)."""
    names = sorted(path.stem for path in (TOY / "clean").glob("*.wav"))
    folders = [root / "clean"] + [root / name for name in systems]
    for folder in folders:
        folder.mkdir(parents=True)
    for i, duration in enumerate(seconds):
        name = names[i % len(names)]
        clean, _ = read_audio(TOY / "clean" / f"{name}.wav", rate, mono=True)
        noisy, _ = read_audio(TOY / "noisy" / f"{name}.wav", rate, mono=True)
        start, length = int(0.3 * rate), int(duration * rate)
        clean, noisy = clean[start : start + length], noisy[start : start + length]
        sf.write(folders[0] / f"{i:02d}.wav", clean, rate, subtype="FLOAT")
        for folder, system in zip(folders[1:], systems):
            sf.write(folder / f"{i:02d}.wav", SYSTEMS[system](clean, noisy), rate, subtype="FLOAT")
    return folders[0], folders[1:]


@pytest.fixture(scope="module")
def small_weights(tmp_path_factory) -> Path:
    """A narrow network with trained-like BatchNorm statistics: fast, and exact-arithmetic like the real one."""
    torch.manual_seed(3)
    network = CDPAMNetwork(encoder_base_channels=16)
    for norm in network.encoder.norms:
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
    return save_network(network.eval(), tmp_path_factory.mktemp("weights") / "small16.pt")


def alone(reference: Path, estimate: Path, weights="official") -> float:
    ref, rate = read_audio(reference, mono=True)
    est, _ = read_audio(estimate, mono=True)
    return float(cdpam_distance(ref, est, rate, weights=weights)[0])


def test_batched_pairs_of_several_systems_equal_each_pair_alone_and_encode_references_once(tmp_path, monkeypatch):
    reference, systems = toy_folders(tmp_path, [0.45, 0.2, 0.33, 0.26], systems=("sysA", "sysB"))
    sf.write(reference / "22k.wav", read_audio(TOY / "clean" / "pocketsphinx_cmu_002.wav", 22050, mono=True)[0][8000:15000], 22050)
    sf.write(systems[0] / "22k.wav", read_audio(TOY / "noisy" / "pocketsphinx_cmu_002.wav", 22050, mono=True)[0][8000:15000], 22050)
    encoded = []
    original = loading.embedding_from_prepared

    def counting(network, prepared):
        encoded.append((prepared.waveform.shape[0], prepared.lengths is not None))
        return original(network, prepared)

    monkeypatch.setattr(loading, "embedding_from_prepared", counting)
    table = score_folders(reference, systems, workers=0, batch_seconds=60, progress=False)
    assert table.columns == ["reference", "estimate:sysA", "estimate:sysB", "distance:sysA", "distance:sysB",
                             "error:sysA", "error:sysB"]
    # each pair alone, through the public embed-once API (equal to cdpam_distance by its contract)
    for record in table:
        ref, rate = read_audio(record["reference"], mono=True)
        cdpam = CDPAM(sample_rate=rate)
        ref_embedding = cdpam.embed(ref)
        for system in ("sysA", "sysB"):
            if record[f"estimate:{system}"]:
                est, _ = read_audio(record[f"estimate:{system}"], mono=True)
                expected = float(cdpam.distance_from_embeddings(ref_embedding, cdpam.embed(est))[0])
                assert abs(record[f"distance:{system}"] - expected) < 1e-5
    assert table[0]["distance:sysA"] > 0.01 and table[0]["distance:sysA"] != table[0]["distance:sysB"]
    assert table[-1]["error:sysB"] == "no file of that name in the estimate folder"
    # one padded batch: 5 references once each, 5 + 4 estimates (sysB has no 22k.wav)
    assert encoded == [(14, True)]


def test_folder_run_in_workers_records_every_failure_with_its_reason(tmp_path, small_weights, capsys):
    reference, (sys_a, sys_b) = toy_folders(tmp_path, [0.3, 0.4, 0.35], systems=("sysA", "sysB"))
    (sys_a / "01.wav").write_bytes(b"RIFF\x00\x00garbage that is not a wav")
    sf.write(sys_b / "02.wav", np.zeros(4000, dtype=np.float32), 8000)  # another sample rate
    sf.write(sys_a / "00.wav", read_audio(sys_a / "00.wav")[0][0][:3000], 16000, subtype="FLOAT")  # shorter
    sf.write(sys_a / "extra.wav", np.zeros(8000, dtype=np.float32), 16000)
    sf.write(reference / "tiny.wav", np.zeros(200, dtype=np.float32), 16000)
    sf.write(sys_b / "tiny.wav", np.zeros(200, dtype=np.float32), 16000)
    out = tmp_path / "scores.csv"
    code = main(["score", str(reference), str(sys_a), str(sys_b), "-o", str(out), "--weights", str(small_weights),
                 "--workers", "2", "--batch-seconds", "2", "--stats", "--histogram", str(tmp_path / "h.png")])
    captured = capsys.readouterr()
    assert code == 1
    rows = {Path(r["reference"] or r["estimate:sysA"]).stem: r for r in csv.DictReader(io.StringIO(out.read_text()))}
    assert list(rows) == ["00", "01", "02", "extra", "tiny"]  # table order: by name
    assert "lengths differ" in rows["00"]["error:sysA"] and "--trim" in rows["00"]["error:sysA"]
    assert re.search(r"not readable|could not decode", rows["01"]["error:sysA"])
    assert "sample rates differ" in rows["02"]["error:sysB"]
    assert rows["extra"]["error:sysA"] == "no file of that name in the reference folder" and rows["extra"]["error:sysB"] == ""
    assert "at least" in rows["tiny"]["error:sysB"] and rows["tiny"]["error:sysA"] == "no file of that name in the estimate folder"
    for name, system in [("00", "sysB"), ("01", "sysB"), ("02", "sysA")]:
        expected = alone(rows[name]["reference"], rows[name][f"estimate:{system}"], small_weights)
        assert abs(float(rows[name][f"distance:{system}"]) - expected) < 1e-5
    assert "FAILED" in captured.err and "01.wav" in captured.err
    assert "3 pair(s) scored, 6 failed" in captured.err and "audio-s per s" in captured.err
    assert "95% CI of mean" in captured.err and "sysA" in captured.err
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _score_command(reference: Path, systems: list[Path], out: Path, weights: Path, *extra: str) -> list[str]:
    return ["-m", "metric.cli", "score", str(reference), *map(str, systems), "--jsonl", "-o", str(out),
            "--weights", str(weights), "--batch-seconds", "0.5", *extra]


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return env


def test_a_run_killed_mid_way_resumes_to_the_same_file_as_an_uninterrupted_run(tmp_path, small_weights):
    reference, systems = toy_folders(tmp_path, [0.3 + 0.01 * i for i in range(24)])
    killed, whole = tmp_path / "killed.jsonl", tmp_path / "whole.jsonl"
    command = [sys.executable, *_score_command(reference, systems, killed, small_weights, "--workers", "1")]
    process = subprocess.Popen(command, env=_environment(), start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if killed.exists() and killed.read_text().count("\n") >= 3:
            break
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)  # the run and its loader workers, mid-way
    process.wait()
    done = killed.read_text().count("\n")
    assert 3 <= done < 24, f"the kill did not land mid-way ({done} rows; stderr: {process.stderr.read()})"
    with killed.open("a") as handle:
        handle.write('{"reference": "half a line')  # as a kill in the middle of a write would leave it
    resumed = subprocess.run(command + ["--resume"], env=_environment(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{24 - done} pair(s) scored" in resumed.stderr  # only what was missing
    command[command.index(str(killed))] = str(whole)
    subprocess.run(command, env=_environment(), check=True, capture_output=True, timeout=600)
    assert killed.read_bytes() == whole.read_bytes()
    assert len(whole.read_text().splitlines()) == 24


def test_torchrun_two_gloo_processes_write_what_one_process_writes(tmp_path, small_weights):
    reference, systems = toy_folders(tmp_path, [0.3, 0.5, 0.25, 0.42, 0.36, 0.28], systems=("sysA", "sysB"))
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    single = subprocess.run([sys.executable, *_score_command(reference, systems, one, small_weights, "--workers", "1")],
                            env=_environment(), capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr
    distributed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         *_score_command(reference, systems, two, small_weights, "--workers", "1")],
        env=_environment(), capture_output=True, text=True, timeout=600,
    )
    assert distributed.returncode == 0, distributed.stderr
    shares = {int(rank): int(n) for rank, n in re.findall(r"process (\d) of 2 scored (\d+) of 6 batches", distributed.stderr)}
    assert shares == {0: 3, 1: 3}  # each process scored its own half
    assert two.read_bytes() == one.read_bytes()
    records = [json.loads(line) for line in one.read_text().splitlines()]
    assert [Path(r["reference"]).name for r in records] == [f"{i:02d}.wav" for i in range(6)]
    assert all(r["distance:sysA"] is not None and r["distance:sysB"] is not None for r in records)


def test_resume_refuses_a_file_of_another_table(tmp_path, small_weights, capsys):
    reference, systems = toy_folders(tmp_path, [0.3])
    out = tmp_path / "other.csv"
    out.write_text("reference,estimate:x,estimate:y,distance:x,distance:y,error:x,error:y\n")
    code = main(["score", str(reference), str(systems[0]), "--csv", "-o", str(out), "--resume", "--weights", str(small_weights)])
    assert code == 2 and "resume with the same reference" in capsys.readouterr().err


def test_python_api_returns_records_or_a_dataframe(tmp_path, small_weights):
    reference, systems = toy_folders(tmp_path, [0.3, 0.4])
    assert "score_folders" in metric.__all__
    table = score_folders(reference, systems[0], weights=small_weights, workers=0, progress=False)
    assert [set(r) for r in table] == [{"reference", "estimate", "distance", "error"}] * 2
    assert table.totals.pairs == 2 and table.failed == 0 and table.totals.audio_seconds == pytest.approx(0.7)
    frame = score_folders(reference, [systems[0]], weights=small_weights, workers=0, progress=False, as_dataframe=True)
    assert list(frame.columns) == table.columns and frame["distance"].tolist() == [r["distance"] for r in table]
    assert frame.index.tolist() == table.names == ["00", "01"]


def test_plan_batches_keeps_the_budget_longest_first_and_every_row_once():
    durations = [1.0, 3.0, None, 2.0, 2.5, 0.5, 1.5, 3.0]
    recordings = [2, 2, 2, 0, 3, 2, 2, 2]
    batches = plan_batches(durations, recordings, batch_seconds=10.0)
    assert sorted(i for batch in batches for i in batch) == list(range(8))
    assert batches[0] == [3]  # nothing to encode: recorded first
    assert batches[-1] == [2]  # unknown length: a batch of its own
    known = [batch for batch in batches[1:-1]]
    order = [i for batch in known for i in batch]
    assert [durations[i] for i in order] == sorted((durations[i] for i in order), reverse=True)
    for batch in known:
        assert len(batch) == 1 or sum(recordings[i] for i in batch) * max(durations[i] for i in batch) <= 10.0
    assert plan_batches(durations, recordings, 10.0) == batches  # a pure function of its inputs


def test_summary_statistics_and_histogram():
    from scipy import stats

    rng = np.random.default_rng(0)
    values = {"a": rng.gamma(2.0, 0.1, 50), "b": rng.gamma(3.0, 0.1, 40)}
    records = [{"distance:a": values["a"][i], "distance:b": values["b"][i] if i < 40 else None} for i in range(50)]
    summary = summarize(records, ("a", "b"))
    for system, v in values.items():
        low, high = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
        s = summary[system]
        assert s["n"] == len(v) and s["mean"] == pytest.approx(v.mean()) and s["median"] == pytest.approx(np.median(v))
        assert (s["ci95_low"], s["ci95_high"]) == pytest.approx((low, high))
        assert (s["p2.5"], s["p97.5"]) == pytest.approx(tuple(np.percentile(v, [2.5, 97.5])))


def test_statistics_and_histogram_without_the_eval_extra_name_it(tmp_path, monkeypatch, capsys):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name in ("scipy", "matplotlib") else real_find_spec(name, *rest))
    with pytest.raises(MissingExtraError, match=r"pip install 'cdpam-plugins\[eval\]'"):
        save_histogram([{"distance": 0.1}], ("sys",), tmp_path / "h.png")
    with pytest.raises(MissingExtraError, match=r"--stats"):
        summarize([{"distance": 0.1}], ("sys",))
    clips = REPO / "metric" / "assets" / "sample_audio"
    code = main(["score", str(clips / "ref.wav"), str(clips / "2.wav"), "--stats", "--histogram", str(tmp_path / "h.png")])
    assert code == 2 and "cdpam-plugins[eval]" in capsys.readouterr().err  # refused before any scoring


def test_progress_plain_lines_when_not_a_terminal_and_a_bar_on_one():
    log = io.StringIO()
    progress = Progress(total_pairs=4, total_seconds=7200.0, interval=0.0, stream=log)
    progress.update(pairs=1, failed=1, audio_seconds=1800.0)
    totals = progress.close()
    assert re.search(r"2/4 pairs, 0\.500/2\.000 h audio, 1 failed, [\d.]+ audio-s/s, ETA \d+:\d\d:\d\d", log.getvalue())
    assert totals.pairs == 1 and totals.failed == 1 and "1800.0 s of audio" in totals.summary()

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    progress = Progress(total_pairs=4, total_seconds=7200.0, stream=screen)
    progress.update(pairs=2, failed=0, audio_seconds=3600.0)
    progress.close()
    assert "2/4 pairs, 1.000/2.000 h audio" in screen.getvalue() and "%" in screen.getvalue()


def test_a_manifest_mapping_scores_exactly_its_names_with_named_systems(tmp_path, small_weights):
    reference, (sys_a, sys_b) = toy_folders(tmp_path, [0.3, 0.4, 0.35], systems=("sysA", "sysB"))
    by_folder = score_folders(reference, [sys_a, sys_b], weights=small_weights, workers=0, progress=False)
    manifest = {"first": reference / "00.wav", "third": reference / "02.wav"}  # names need not be file names
    systems = {"plain": {"first": sys_a / "00.wav", "third": sys_a / "02.wav"}, "mixed": sys_b}
    table = score_folders(manifest, systems, weights=small_weights, workers=0, progress=False)
    assert table.names == ["first", "third"] and table.systems == ("plain", "mixed")
    # other batch companions, so equal within float32 padding noise (exactness itself is tested above)
    expected = {"first": by_folder[0]["distance:sysA"], "third": by_folder[2]["distance:sysA"]}
    assert table.distances("plain") == pytest.approx(expected, abs=1e-6)
    # the folder system is paired by name: its 00.wav/02.wav are not "first"/"third", and 01.wav is not in the manifest
    assert table.distances("mixed") == {"first": None, "third": None}
    assert table.errors("mixed") == {name: "no file of that name in the estimate folder" for name in ("first", "third")}
    assert table.errors("plain") == {} and table.failed == 2
    with pytest.raises(KeyError, match="its systems are"):
        table.distances("sysA")
    renamed = score_folders({f"{i:02d}": reference / f"{i:02d}.wav" for i in (0, 1)}, {"B": sys_b},
                            weights=small_weights, workers=0, progress=False)
    assert renamed.distances("B") == pytest.approx({"00": by_folder[0]["distance:sysB"], "01": by_folder[1]["distance:sysB"]}, abs=1e-6)
    assert renamed.columns == ["reference", "estimate", "distance", "error"]  # one system: plain columns
    with pytest.raises(ScoringInputError, match="needs a name"):
        score_folders(reference, [systems["plain"]], weights=small_weights, progress=False)
    with pytest.raises(ScoringInputError, match="do not exist"):
        score_folders({"x": tmp_path / "absent.wav"}, [sys_a], weights=small_weights, progress=False)
