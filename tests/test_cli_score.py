"""`cdpam score`: files, folders, output formats and per-file failures."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from metric import cdpam_distance
from metric.cli import main


@pytest.fixture()
def folders(tmp_path, clips):
    ref_dir, est_dir = tmp_path / "clean", tmp_path / "enhanced"
    ref_dir.mkdir()
    est_dir.mkdir()
    seconds = 16000 // 2
    from metric.resample import resample
    import torch

    ref16 = resample(torch.from_numpy(clips["ref"]), 22050, 16000).numpy()
    deg16 = resample(torch.from_numpy(clips["4"]), 22050, 16000).numpy()
    sf.write(ref_dir / "a.wav", ref16[:seconds], 16000)
    sf.write(est_dir / "a.flac", deg16[:seconds], 16000)  # pairs by name, whatever the extension
    sf.write(ref_dir / "b.wav", ref16[seconds : 2 * seconds], 16000)
    sf.write(est_dir / "b.wav", ref16[seconds : 2 * seconds], 16000)
    sf.write(ref_dir / "c.wav", ref16[:seconds], 16000)
    (est_dir / "c.wav").write_bytes(b"RIFF\x00\x00garbage that is not a wav")
    sf.write(ref_dir / "lonely.wav", ref16[:seconds], 16000)
    # the files hold 16-bit PCM: compare against what was stored, not the float originals
    stored_ref, _ = sf.read(ref_dir / "a.wav", dtype="float32")
    stored_deg, _ = sf.read(est_dir / "a.flac", dtype="float32")
    return ref_dir, est_dir, stored_ref, stored_deg


def test_folders_are_paired_by_name_and_failures_reported_per_file(folders, capsys):
    ref_dir, est_dir, ref_a, deg_a = folders
    code = main(["score", str(ref_dir), str(est_dir), "--json", "-q"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == 1  # the bad and the unpaired file fail the run, after the others were scored
    by_name = {r["reference"].rsplit("/", 1)[-1]: r for r in report["results"]}
    assert abs(by_name["a.wav"]["distance"] - float(cdpam_distance(ref_a, deg_a, 16000))) < 1e-5
    assert by_name["b.wav"]["distance"] == 0.0
    assert by_name["c.wav"]["distance"] is None
    assert re.search(r"not readable|could not decode", by_name["c.wav"]["error"])  # soundfile, or ffmpeg if installed
    assert "no file of that name" in by_name["lonely.wav"]["error"]
    assert report["pairs"] == 2 and report["failed"] == 2
    assert "FAILED" in captured.err and "c.wav" in captured.err


def test_two_files_csv_output_and_exit_code(folders, tmp_path):
    ref_dir, est_dir, ref_a, deg_a = folders
    out = tmp_path / "scores.csv"
    code = main(["score", str(ref_dir / "a.wav"), str(est_dir / "a.flac"), "--csv", "-o", str(out)])
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 1 and abs(float(rows[0]["distance"]) - float(cdpam_distance(ref_a, deg_a, 16000))) < 1e-5


def test_length_mismatch_needs_trim(folders, tmp_path, capsys):
    ref_dir, _, ref_a, deg_a = folders
    shorter = tmp_path / "short.wav"
    sf.write(shorter, deg_a[:6000], 16000)
    assert main(["score", str(ref_dir / "a.wav"), str(shorter), "-q"]) == 1
    assert "--trim" in capsys.readouterr().err
    assert main(["score", str(ref_dir / "a.wav"), str(shorter), "--trim", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert abs(result["distance"] - float(cdpam_distance(ref_a[:6000], deg_a[:6000], 16000))) < 1e-5


def test_stereo_files_are_downmixed_by_default(tmp_path, clips, capsys):
    left, right = clips["ref"][:11025], clips["2"][:11025]
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), 22050, subtype="FLOAT")
    sf.write(tmp_path / "mono.wav", left, 22050, subtype="FLOAT")
    assert main(["score", str(tmp_path / "mono.wav"), str(tmp_path / "st.wav"), "--json"]) == 0
    distance = json.loads(capsys.readouterr().out)["results"][0]["distance"]
    mixed = ((left + right) / 2).astype(np.float32)
    assert abs(distance - float(cdpam_distance(left, mixed, 22050))) < 1e-4
    assert main(["score", str(tmp_path / "mono.wav"), str(tmp_path / "st.wav"), "--channels", "error"]) == 1


def test_demo_reproduces_the_official_example_through_the_entry_point(golden):
    result = subprocess.run(
        [sys.executable, "-m", "metric.cli", "score", "--demo", "--json"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    expected = {c["name"]: c["dist"] for c in golden["cases"]}
    assert abs(report["results"][0]["distance"] - expected["ref_vs_2"]) < 1e-4
    assert abs(report["results"][1]["distance"] - expected["ref_vs_4"]) < 1e-4


def test_help_documents_score():
    result = subprocess.run([sys.executable, "-m", "metric.cli", "score", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--json" in result.stdout and "folders" in result.stdout
