"""MelGAN recipe: tiny training runs, resuming, CDPAM term, vocode.py, evaluation and its measures."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "melgan"
sys.path.insert(0, str(RECIPE))

from melgan.checkpoint import load_checkpoint, load_generator  # noqa: E402
from melgan.data import prepare_toy, read_manifest, write_manifest  # noqa: E402
from melgan.evaluation import evaluate  # noqa: E402
from melgan.metrics import mel_cepstral_distortion, multi_resolution_stft_distance, pesq_wideband  # noqa: E402
from melgan.trainer import train  # noqa: E402

SAMPLES = ROOT / "metric" / "assets" / "sample_audio"
TINY = [
    "model.generator.ngf=2",
    "model.discriminator.ndf=2",
    "model.discriminator.max_channels=8",
    "train.batch_size=2",
    "train.segment_length=2048",
    "train.log_every=1",
    "train.validate_every=2",
    "train.valid_seconds=0.5",
    "train.checkpoint_every=100",
    "train.max_minutes=null",
]


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    """Manifests over the official sample clips (22,050 Hz speech)."""
    directory = tmp_path_factory.mktemp("manifests")
    entries = []
    for name in ("ref", "2", "4"):
        info = sf.info(SAMPLES / f"{name}.wav")
        entries.append({"path": str(SAMPLES / f"{name}.wav"), "speaker": "s", "utterance_id": name,
                        "sample_rate": info.samplerate, "num_samples": info.frames})
    for split in ("train", "valid", "test"):
        write_manifest(entries, directory / f"{split}.jsonl")
    return directory


def _config(manifests: Path, exp_dir: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(RECIPE / "conf"), version_base="1.3"):
        return compose("config", overrides=[*TINY, f"data.manifest_dir={manifests}", f"exp_dir={exp_dir}", *overrides])


def test_configs_carry_the_paper_hyper_parameters():
    with initialize_config_dir(config_dir=str(RECIPE / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["model=paper", "train=paper", "data=ljspeech", "variant=melgan_cdpam"])
    assert cfg.model.generator.ngf == 32 and list(cfg.model.generator.ratios) == [8, 8, 2, 2]
    assert cfg.model.generator.residual_blocks == 3
    assert cfg.model.discriminator.scales == 3 and cfg.model.discriminator.ndf == 16
    assert cfg.train.lr == 1e-4 and list(cfg.train.betas) == [0.5, 0.9]
    assert cfg.train.batch_size == 16 and cfg.train.segment_length == 8192
    assert cfg.train.feature_matching_weight == 10
    assert (cfg.mel.n_fft, cfg.mel.hop_length, cfg.mel.win_length, cfg.mel.n_mels) == (1024, 256, 1024, 80)
    assert cfg.mel.sample_rate == 22050 and cfg.mel.log_floor == 1e-5
    assert cfg.variant.cdpam_weight > 0 and cfg.exp_dir == "exp/ljspeech/melgan_cdpam"


def test_training_runs_checkpoints_and_resumes_the_step_count(manifests, tmp_path):
    exp = tmp_path / "exp"
    summary = train(_config(manifests, exp, "train.max_steps=2"))
    assert summary["steps"] == 2 and summary["stopped_by"] == "max_steps"
    assert all(math.isfinite(v) for v in summary["final_losses"].values())
    state = load_checkpoint(exp / "checkpoints" / "last.pt")
    assert state["step"] == 2 and set(state) >= {"generator", "discriminator", "opt_g", "opt_d"}
    assert not list((exp / "checkpoints").glob("*.tmp"))  # atomic writes leave no temporaries
    assert list((exp / "tensorboard").glob("events.out.tfevents.*"))
    generator_before, _, step = load_generator(exp / "generator.pt")
    assert step == 2

    summary = train(_config(manifests, exp, "train.max_steps=3"))
    assert summary["steps"] == 3 and summary["steps_this_run"] == 1
    state = load_checkpoint(exp / "checkpoints" / "last.pt")
    assert state["step"] == 3
    # Adam's step counter continued from the restored optimiser state, and the weights moved on.
    assert all(int(s["step"]) == 3 for s in state["opt_g"]["state"].values())
    generator_after, _, _ = load_generator(exp / "generator.pt")
    before = torch.cat([p.flatten() for p in generator_before.parameters()])
    after = torch.cat([p.flatten() for p in generator_after.parameters()])
    assert not torch.equal(before, after)

    # Without resume the run starts over.
    summary = train(_config(manifests, exp, "train.max_steps=1", "train.resume=false"))
    assert summary["steps"] == 1 and summary["steps_this_run"] == 1


def test_wall_clock_budget_stops_the_run_early(manifests, tmp_path):
    summary = train(_config(manifests, tmp_path / "exp", "train.max_steps=1000", "train.max_minutes=0.0001"))
    assert summary["stopped_by"] == "max_minutes" and summary["steps"] < 1000
    assert (tmp_path / "exp" / "generator.pt").is_file()


def test_cdpam_variant_adds_the_cdpam_term(manifests, tmp_path):
    cfg = _config(
        manifests, tmp_path / "exp", "variant=melgan_cdpam", "train.max_steps=1",
        "train.cdpam_segment_seconds=0.05", "train.cdpam_items=1", "train.cdpam_every=1", "train.validate_every=0",
    )
    summary = train(cfg)
    losses = summary["final_losses"]
    assert losses["loss_cdpam_weighted"] > 0
    expected = losses["loss_g_adv"] + 10 * losses["loss_fm"] + losses["loss_cdpam_weighted"]
    assert losses["loss_g"] == pytest.approx(expected, rel=1e-5)
    # The frozen CDPAM network stays out of the trainee's checkpoint.
    state = load_checkpoint(tmp_path / "exp" / "checkpoints" / "last.pt")
    assert not any("encoder" in key for key in state["generator"]["state_dict"])


def test_vocode_script_turns_audio_and_mel_files_into_waveforms(manifests, tmp_path):
    exp = tmp_path / "exp"
    train(_config(manifests, exp, "train.max_steps=1", "train.validate_every=0"))
    inputs = tmp_path / "in"
    inputs.mkdir()
    audio, rate = sf.read(SAMPLES / "ref.wav", dtype="float32")
    sf.write(inputs / "clip.wav", audio[: 256 * 20 + 17], rate)
    np.save(inputs / "features.npy", np.full((80, 12), -3.0, dtype=np.float32))
    result = subprocess.run(
        [sys.executable, str(RECIPE / "vocode.py"), "--checkpoint", str(exp / "generator.pt"),
         "--input", str(inputs), "--out-dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    clip, clip_rate = sf.read(tmp_path / "out" / "clip.wav")
    features, _ = sf.read(tmp_path / "out" / "features.wav")
    assert clip_rate == 22050 and len(clip) == 20 * 256 and len(features) == 12 * 256
    # Training checkpoints work too; a wrongly shaped mel file is refused with the expected shape.
    np.save(inputs / "features.npy", np.zeros((12, 80), dtype=np.float32))
    result = subprocess.run(
        [sys.executable, str(RECIPE / "vocode.py"), "--checkpoint", str(exp / "checkpoints" / "last.pt"),
         "--input", str(inputs / "features.npy"), "--out-dir", str(tmp_path / "out2")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0 and "[n_mels=80, frames]" in result.stderr


def test_evaluation_writes_table_audio_and_figure(manifests, tmp_path):
    exp = tmp_path / "exp"
    train(_config(manifests, exp, "train.max_steps=1", "train.validate_every=0"))
    entries = read_manifest(manifests / "test.jsonl")[:1]
    result = evaluate(
        {"melgan": exp / "generator.pt", "melgan_cdpam": exp / "checkpoints" / "last.pt"},
        entries, tmp_path / "eval", max_seconds=0.5,
    )
    assert set(result["summary"]) == {"melgan", "melgan_cdpam"}
    for model in result["summary"].values():
        assert set(model) == {"cdpam", "mrstft", "mcd_db", "pesq_wb"}
        assert model["cdpam"]["mean"] > 0 and model["mrstft"]["mean"] > 0
    table = (tmp_path / "eval" / "results.md").read_text()
    assert "| melgan |" in table and "| melgan_cdpam |" in table and "PESQ-WB" in table
    assert json.loads((tmp_path / "eval" / "results.json").read_text())["utterances"] == 1
    assert (tmp_path / "eval" / "spectrograms.png").stat().st_size > 10_000
    for name in ("real", "melgan", "melgan_cdpam"):
        assert sf.info(tmp_path / "eval" / "audio" / name / "ref.wav").frames == 0.5 * 22050 // 256 * 256


def test_measures_behave_on_known_signals():
    speech, _ = sf.read(SAMPLES / "ref.wav", dtype="float64")
    speech = speech[:22050]
    rng = np.random.default_rng(0)
    noisy = np.clip(speech + 0.05 * rng.standard_normal(len(speech)), -1, 1)
    assert mel_cepstral_distortion(speech, speech) == 0
    assert multi_resolution_stft_distance(speech, speech) == 0
    # A gain change shifts every log-mel band by the same amount: only c0 changes, and MCD excludes c0
    # (up to the few bands of near-silent frames that sit at the 1e-5 floor).
    assert mel_cepstral_distortion(speech, 0.5 * speech) < 0.05
    assert mel_cepstral_distortion(speech, 0.5 * speech) < 0.01 * mel_cepstral_distortion(speech, noisy)
    assert mel_cepstral_distortion(speech, noisy) > 1.0
    assert multi_resolution_stft_distance(speech, noisy) > 0.1
    # MR-STFT distance grows with the noise level.
    noisier = np.clip(speech + 0.2 * rng.standard_normal(len(speech)), -1, 1)
    assert multi_resolution_stft_distance(speech, noisier) > multi_resolution_stft_distance(speech, noisy)
    assert pesq_wideband(speech, speech) > 4.5
    assert pesq_wideband(speech, noisy) < 3.0
    with pytest.raises(ValueError, match="equal length"):
        mel_cepstral_distortion(speech, speech[:-1])


def test_toy_preparation_writes_three_splits(tmp_path):
    paths = prepare_toy(tmp_path)
    for split in ("train", "valid", "test"):
        entries = read_manifest(paths[split])
        assert entries and all(Path(e["path"]).is_file() for e in entries)
    # The stage-0 script itself, as run.sh runs it.
    result = subprocess.run([sys.executable, "prepare_data.py", "toy", "--out-dir", str(tmp_path / "script")],
                            cwd=RECIPE, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert read_manifest(tmp_path / "script" / "test.jsonl") == read_manifest(paths["test"])
    for script in ("evaluate.py", "vocode.py"):  # their argument parsers build
        result = subprocess.run([sys.executable, script, "--help"], cwd=RECIPE, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_torchrun_two_processes_train_with_ddp(manifests, tmp_path):
    """Two gloo processes train in lockstep and leave one resumable checkpoint."""
    exp = tmp_path / "exp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(RECIPE / "train.py"), *TINY, "train.max_steps=2", "train.validate_every=0",
        f"data.manifest_dir={manifests}", f"exp_dir={exp}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((exp / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 2
    state = load_checkpoint(exp / "checkpoints" / "last.pt")
    assert state["step"] == 2
    assert not any(key.startswith("module.") for key in state["generator"]["state_dict"])


def test_limited_evaluation_covers_every_speaker():
    from melgan.evaluation import select_utterances

    entries = [{"speaker": "a", "utterance_id": f"a{i}"} for i in range(5)] + [
        {"speaker": "b", "utterance_id": "b0"}, {"speaker": "c", "utterance_id": "c0"}]
    assert [e["utterance_id"] for e in select_utterances(entries, 4)] == ["a0", "b0", "c0", "a1"]
    assert select_utterances(entries, None) == entries


def test_hydra_entry_point_and_run_sh_argument_errors(manifests, tmp_path):
    exp = tmp_path / "exp"
    result = subprocess.run(
        [sys.executable, str(RECIPE / "train.py"), *TINY, "train.max_steps=1", "train.validate_every=0",
         f"data.manifest_dir={manifests}", f"exp_dir={exp}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((exp / "train_summary.json").read_text())["steps"] == 1
    assert list((exp / "hydra").glob("*/.hydra/config.yaml"))  # the composed config is kept with the run
    result = subprocess.run(["bash", str(RECIPE / "run.sh"), "data=vctk"], capture_output=True, text=True)
    assert result.returncode == 2 and "path=" in result.stderr
    result = subprocess.run(["bash", str(RECIPE / "run.sh"), "--bogus"], capture_output=True, text=True)
    assert result.returncode == 2 and "unknown argument" in result.stderr
