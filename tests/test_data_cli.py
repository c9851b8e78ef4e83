"""`cdpam data ...` end to end on a tiny corpus."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from metric.cli import main
from metric.data.build import read_manifest
from metric.perturb import Chain
from metric.io import read_audio


@pytest.fixture()
def tiny_corpus(tmp_path, clips):
    root = tmp_path / "corpus"
    for speaker, name, clip in (("spk1", "a", "ref"), ("spk2", "b", "4")):
        (root / speaker).mkdir(parents=True)
        sf.write(root / speaker / f"{name}.wav", clips[clip][:22050], 22050)  # 1 s at 22,050 Hz
    return root


def test_build_writes_audio_and_manifest_and_resumes(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["data", "build", "--input", str(tiny_corpus), "--output", str(out), "--families", "white_noise", "mp3",
            "--levels", "0.2", "0.8", "--chain", "reverb:0.4+mulaw:0.5", "--sample-rate", "16000", "--seed", "5", "--quiet"]
    assert main(args) == 0
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == 2 * 5
    assert {r["condition"] for r in rows} == {"white_noise_0.20", "white_noise_0.80", "mp3_0.20", "mp3_0.80", "reverb_0.40+mulaw_0.50"}
    chain_row = next(r for r in rows if r["condition"].startswith("reverb"))
    assert chain_row["family"] == "reverb+mulaw" and chain_row["level"] == ""
    assert [p["family"] for p in json.loads(chain_row["parameters"])] == ["reverb", "mulaw"]
    assert "rt60_s" in json.loads(chain_row["parameters"])[0]
    for row in rows:
        reference, rate = sf.read(row["reference"], dtype="float32")
        perturbed, rate_p = sf.read(row["perturbed"], dtype="float32")
        assert rate == rate_p == 16000 and len(reference) == len(perturbed) == 16000
        # the file is the documented chain applied with the recorded seed to the resampled input
        source, _ = read_audio(tiny_corpus / row["speaker"] / f"{row['utterance_id'].split('/')[-1]}.wav", 16000, mono=True)
        expected = Chain.parse(row["chain"])(source, 16000, seed=int(row["seed"]))
        np.testing.assert_allclose(perturbed, expected, atol=2 / 32768)
    # one seed per condition: its files share their perturbation draw (an acoustic group)
    by_condition = {}
    for row in rows:
        by_condition.setdefault(row["condition"], set()).add(row["seed"])
    assert all(len(seeds) == 1 for seeds in by_condition.values())

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    assert main(args) == 0  # resume: nothing is rewritten
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")} == before
    with open(out / "manifest.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 10


def test_build_rejects_bad_requests(tiny_corpus, tmp_path):
    base = ["data", "build", "--output", str(tmp_path / "o"), "--quiet"]
    with pytest.raises(SystemExit, match="exactly one of"):
        main(base)
    with pytest.raises(SystemExit, match="unknown families: static"):
        main(base + ["--input", str(tiny_corpus), "--families", "static"])
    with pytest.raises(SystemExit, match="noise-files"):
        main(base + ["--input", str(tiny_corpus), "--families", "noise_file"])
    with pytest.raises(SystemExit, match=r"in \[0, 1\]"):
        main(base + ["--input", str(tiny_corpus), "--families", "gain", "--levels", "2"])


def test_noise_file_family_from_the_cli(tiny_corpus, tmp_path, clips):
    noise = tmp_path / "hum.wav"
    sf.write(noise, 0.1 * np.sin(2 * np.pi * 100 * np.arange(8000) / 8000), 8000)
    out = tmp_path / "noisy"
    assert main(["data", "build", "--input", str(tiny_corpus), "--output", str(out), "--families", "noise_file",
                 "--levels", "1.0", "--noise-files", str(noise), "--limit", "1", "--quiet"]) == 0
    row = read_manifest(out / "manifest.csv")[0]
    reference, _ = sf.read(row["reference"])
    perturbed, _ = sf.read(row["perturbed"])
    spectrum = np.abs(np.fft.rfft(perturbed - reference))
    assert np.argmax(spectrum) * 16000 / len(reference) == pytest.approx(100, abs=2)


def test_families_and_check_jnd_commands(tmp_path, capsys):
    assert main(["data", "families", "--sample-rate", "22050"]) == 0
    listing = capsys.readouterr().out
    for family in ("white_noise", "griffin_lim", "opus", "time_shift"):
        assert family in listing
    assert "codec_rate=24000" in listing  # opus at 22,050 Hz is coded at 24 kHz
    assert main(["data", "check-jnd", "--root", str(tmp_path), "--subsets", "eq", "--show", "2"]) == 1
    report = capsys.readouterr().out
    assert "3210 judgments" in report and report.count("missing: ") == 2 and "more missing" in report


def test_build_from_the_toy_corpus(tmp_path):
    from metric.data import toy

    out = tmp_path / "toy"
    assert main(["data", "build", "--toy", "--toy-split", "valid", "--limit", "2", "--families", "babble", "dropout",
                 "--levels", "0.5", "--sample-rate", "8000", "--segment-seconds", "0.5", "--output", str(out), "--quiet"]) == 0
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == 4
    valid_ids = {u.utterance_id for u in toy.utterances("valid")}
    assert {r["utterance_id"] for r in rows} <= valid_ids
    for row in rows:
        audio, rate = sf.read(row["perturbed"])
        assert rate == 8000 and len(audio) == 4000  # resampled from the 16 kHz files, cut to 0.5 s
