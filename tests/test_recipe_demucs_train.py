"""DEMUCS recipe end to end, tiny: Hydra config -> Asteroid System on Lightning -> checkpoints,
resume, the CDPAM and fine-tune variants, evaluation and enhance.py on a folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "demucs"

from metric import read_audio  # noqa: E402
from pytorch_lightning.utilities.warnings import PossibleUserWarning  # noqa: E402
from enhancement_pairs import write_speech_pairs  # noqa: E402
from recipe_scripts import load_script, recipe_dir  # noqa: E402

recipe_dir("demucs")
from demucs.inference import load_model  # noqa: E402
from demucs.model import CausalDemucs  # noqa: E402
from demucs.selection import ValidationObjective, best_validation, read_validation_log  # noqa: E402

train = load_script("demucs", "train").train

SPEECH = ROOT / "metric" / "assets" / "sample_audio" / "ref.wav"


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    """Noisy/clean pairs cut from real speech, 16 kHz, as train/valid/test manifests."""
    # test files long enough for STOI (it needs about 0.4 s of active speech)
    return write_speech_pairs(tmp_path_factory.mktemp("pairs"), {"train": 4, "valid": 1, "test": 2},
                              lambda split: 32000 if split == "test" else 12000, noise_std=0.03)


def config(manifest_dir, exp_dir, *overrides):
    with initialize_config_dir(config_dir=str(RECIPE / "conf"), version_base="1.3"):
        return compose("config", overrides=[
            f"data.manifest_dir={manifest_dir}", f"exp_dir={exp_dir}", "model.hidden=4", "model.depth=3",
            "data.batch_size=2", "data.segment_seconds=0.3", "data.stride_seconds=0.25", "data.valid_segment_seconds=0.5",
            "data.shift=800", "data.val_every.from_scratch=2", "data.val_every.fine_tune=1",
            "data.val_batches=1", "data.perceptual_valid_items=2", "data.perceptual_valid_seconds=0.2",
            "trainer.progress_bar=false", "trainer.log_every_n_steps=1",
            *overrides,
        ])


def test_baseline_trains_checkpoints_resumes_and_fine_tunes(manifests, tmp_path):
    exp = tmp_path / "baseline"
    cfg = config(manifests, exp, "loss=baseline", "data.max_steps.from_scratch=3")
    model_path = train(cfg)
    assert (exp / "checkpoints" / "last.ckpt").exists() and (exp / "checkpoints" / "best.ckpt").exists()
    assert list((exp / "logs" / "tensorboard").rglob("events.out.tfevents.*"))
    metrics = (next((exp / "logs" / "csv").rglob("metrics.csv"))).read_text()
    assert "train_l1" in metrics and "train_sc" in metrics and "val_loss" in metrics
    package = torch.load(model_path, weights_only=True)  # plain, safe-to-load export
    assert package["training"]["variant"] == "baseline" and package["training"]["steps"] == 3
    model = load_model(model_path)
    assert model.config.hidden == 4 and model.config.depth == 3
    checkpoint = torch.load(exp / "checkpoints" / "last.ckpt", weights_only=True)
    assert not any("cdpam" in key for key in checkpoint["state_dict"])  # frozen CDPAM never in a checkpoint
    # The .ckpt loads as well and holds trained (changed) weights.
    torch.manual_seed(0)
    fresh = type(model)(**{**package["config"]})
    assert any(not torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), load_model(exp / "checkpoints" / "last.ckpt").state_dict().values()))

    # Resume: asking for 5 steps continues from step 3 of last.ckpt. Step 3 is inside an epoch and the
    # recipe's loader does not restore its position: the epoch restarts with a fresh shuffle, and the
    # user is told (recipes/demucs/README.md documents it).
    with pytest.warns(PossibleUserWarning, match="resuming from a checkpoint that ended before the epoch ended"):
        train(config(manifests, exp, "loss=baseline", "data.max_steps.from_scratch=5"))
    assert torch.load(exp / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 5

    # Finetune-CDPAM starts from the baseline's weights and trains on CDPAM (+ a small L1).
    fine = tmp_path / "finetune"
    cfg = config(manifests, fine, "loss=finetune", f"init_from={model_path}", "data.max_steps.fine_tune=1",
                 "data.cdpam_segment_seconds=0.1")
    fine_model = load_model(train(cfg))
    metrics = (next((fine / "logs" / "csv").rglob("metrics.csv"))).read_text()
    header = metrics.splitlines()[0].split(",")
    row = [line for line in metrics.splitlines()[1:] if line.split(",")[header.index("train_cdpam")]][0].split(",")
    assert float(row[header.index("train_cdpam")]) > 0
    assert "train_sc" not in header
    # Finetune-CDPAM selects on its fine-tuning objective, 0.1 L1 + CDPAM.
    validation = read_validation_log(next((fine / "logs" / "csv").rglob("metrics.csv")))
    assert validation and all(v["val_loss"] == pytest.approx(0.1 * v["val_l1"] + v["val_cdpam"], rel=1e-5) for v in validation)
    start = load_model(model_path).state_dict()
    changed = [not torch.equal(start[k], v) for k, v in fine_model.state_dict().items()]
    assert any(changed)


def test_cdpam_variant_logs_the_cdpam_term_and_keeps_its_own_best_checkpoint(manifests, tmp_path):
    exp = tmp_path / "cdpam"
    cfg = config(manifests, exp, "loss=cdpam", "data.max_steps.from_scratch=6", "data.cdpam_segment_seconds=0.1",
                 "loss.perceptual_every=2", "data.val_every.from_scratch=2")
    assert cfg.loss.terms.perceptual_weight > 0 and cfg.loss.terms.perceptual_segment_seconds == 0.1
    selected = torch.load(train(cfg), weights_only=True)
    metrics_csv = next((exp / "logs" / "csv").rglob("metrics.csv"))
    header = metrics_csv.read_text().splitlines()[0].split(",")
    assert {"train_l1", "train_sc", "train_mag", "train_cdpam", "val_cdpam", "val_l1", "val_loss"} <= set(header)
    # val_loss is this variant's objective: L1 + 0.1 SC + 0.1 LogMag + (0.3 / 2) CDPAM, and model.pt is
    # the checkpoint of its best validation; model_last.pt the end of training.
    objective = ValidationObjective.from_loss_terms(OmegaConf.to_container(cfg.loss.terms, resolve=True), 2)
    rows = read_validation_log(metrics_csv)
    assert [row["step"] for row in rows] == [2, 4, 6]
    for row in rows:
        assert row["val_loss"] == pytest.approx(objective({k[4:]: v for k, v in row.items() if k.startswith("val_")}), rel=1e-5)
    best = best_validation(rows, objective)
    assert selected["training"]["selected_step"] == best["step"]
    assert selected["training"]["val_loss"] == pytest.approx(best["objective"], rel=1e-5)
    best_ckpt = load_model(exp / "checkpoints" / "best.ckpt").state_dict()
    assert all(torch.equal(best_ckpt[k], v) for k, v in selected["state_dict"].items())
    last = torch.load(exp / "model_last.pt", weights_only=True)
    assert last["training"]["steps"] == 6 and last["training"]["checkpoint"] == "last"
    last_ckpt = load_model(exp / "checkpoints" / "last.ckpt").state_dict()
    assert all(torch.equal(last_ckpt[k], v) for k, v in last["state_dict"].items())


def test_training_segments_are_the_models_valid_length_and_augmented_as_released(manifests, tmp_path):
    build_loaders = load_script("demucs", "train").build_loaders

    cfg = config(manifests, tmp_path / "b")
    model = CausalDemucs(**OmegaConf.to_container(cfg.model, resolve=True))
    train_loader, valid_loader = build_loaders(cfg, model)
    assert train_loader.dataset.segment == model.valid_length(int(0.3 * 16000)) > 0.3 * 16000
    noisy, clean = next(iter(train_loader))
    assert noisy.shape == (2, model.valid_length(4800))
    assert valid_loader.dataset.segment == 8000
    # The toy defaults: the released model's layout and the release's augmentations.
    assert (cfg.model.layout, cfg.model.resampler, cfg.data.remix, cfg.data.bandmask) == ("released", "sinc", True, 0.2)
    assert cfg.optim.grad_clip is None


def untrained_model_file(path: Path) -> Path:
    torch.save(CausalDemucs(hidden=4, depth=3).serialize(), path)
    return path


def test_init_from_a_different_model_size_is_refused(manifests, tmp_path):
    model_path = untrained_model_file(tmp_path / "model.pt")
    cfg = config(manifests, tmp_path / "b", "model.hidden=6", f"init_from={model_path}", "data.max_steps.from_scratch=1")
    with pytest.raises(ValueError, match="model config"):
        train(cfg)


def test_enhance_folder_and_evaluate(manifests, tmp_path):
    model_path = untrained_model_file(tmp_path / "model.pt")  # enhance/evaluate only need a model file
    noisy_dir = tmp_path / "noisy"
    noisy_dir.mkdir()
    speech, _ = read_audio(SPEECH, 8000, mono=True)
    sf.write(noisy_dir / "phone.wav", speech[:8000], 8000)  # 8 kHz mono
    stereo, _ = read_audio(SPEECH, 44100, mono=True)
    sf.write(noisy_dir / "music rate.wav", np.stack([stereo, 0.5 * stereo], axis=1)[:44100], 44100)  # 44.1 kHz stereo
    (noisy_dir / "notes.txt").write_text("not audio")
    out_dir = tmp_path / "enhanced"
    result = subprocess.run(
        [sys.executable, str(RECIPE / "enhance.py"), "--checkpoint", str(model_path), "--noisy-dir", str(noisy_dir),
         "--out-dir", str(out_dir)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["music rate.wav", "phone.wav"]
    for name in ["music rate.wav", "phone.wav"]:
        audio, rate = sf.read(out_dir / name)
        assert rate == 16000 and audio.ndim == 1 and len(audio) == 16000 and np.abs(audio).max() <= 1.0

    evaluate = load_script("demucs", "evaluate").evaluate

    results = evaluate(manifests / "test.json", {"DEMUCS": model_path}, tmp_path / "eval", examples=1, progress=False)
    assert list(results["means"]) == ["Noisy", "DEMUCS"]
    noisy_row = results["means"]["Noisy"]
    assert set(noisy_row) == {"pesq", "stoi", "csig", "cbak", "covl", "cdpam", "si_sdr"}
    assert 1.0 <= noisy_row["pesq"] <= 4.64 and 0 < noisy_row["stoi"] <= 100 and noisy_row["cdpam"] > 0
    # For noise independent of the speech, SI-SDR of the noisy input is about its SNR.
    snrs = []
    for entry in json.loads((manifests / "test.json").read_text()):
        clean, _ = sf.read(entry["clean"])
        noisy, _ = sf.read(entry["noisy"])
        snrs.append(10 * np.log10(np.sum(clean**2) / np.sum((noisy - clean) ** 2)))
    assert noisy_row["si_sdr"] == pytest.approx(np.mean(snrs), abs=0.5)
    table = (tmp_path / "eval" / "table.md").read_text()
    assert "| Noisy |" in table and "| DEMUCS |" in table and "CSIG" in table
    assert json.loads((tmp_path / "eval" / "results.json").read_text())["files"] == 2
    assert (tmp_path / "eval" / "spectrogram.png").stat().st_size > 10_000
    assert len(list((tmp_path / "eval" / "examples").glob("*.wav"))) == 3  # clean, noisy, DEMUCS
    assert results["recomputed_rows"] == ["Noisy", "DEMUCS"]
    # A second evaluation reuses the cached rows while the model file is unchanged ...
    again = evaluate(manifests / "test.json", {"DEMUCS": model_path}, tmp_path / "eval", examples=1, progress=False)
    assert again["recomputed_rows"] == [] and again["means"] == results["means"]
    # ... and recomputes a row whose model file changed; a second file with the same weights (a
    # selected checkpoint that is also the last) is scored once.
    untrained_model_file(model_path)
    os.utime(model_path, ns=(1, 1))
    copy = tmp_path / "model_last.pt"
    copy.write_bytes(model_path.read_bytes())
    third = evaluate(manifests / "test.json", {"DEMUCS": model_path, "DEMUCS (last)": copy}, tmp_path / "eval",
                     examples=1, progress=False)
    assert third["recomputed_rows"] == ["DEMUCS"] and third["identical_rows"] == {"DEMUCS (last)": "DEMUCS"}
    assert third["means"]["DEMUCS (last)"] == third["means"]["DEMUCS"]
    assert "DEMUCS (last) is the same model as DEMUCS" in (tmp_path / "eval" / "table.md").read_text()
    # Paired per-file differences from DEMUCS, with a 95 % interval.
    paired = third["paired"]["differences"]
    assert paired["DEMUCS (last)"]["pesq"]["mean"] == 0.0
    noisy_vs = paired["Noisy"]["cdpam"]
    assert noisy_vs["mean"] == pytest.approx(third["means"]["Noisy"]["cdpam"] - third["means"]["DEMUCS"]["cdpam"])
    assert noisy_vs["ci95"] > 0 and noisy_vs["files"] == 2


def test_enhance_rejects_an_empty_folder(tmp_path):
    main = load_script("demucs", "enhance").main

    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No .wav files"):
        main(["--checkpoint", "x.pt", "--noisy-dir", str(tmp_path / "empty"), "--out-dir", str(tmp_path / "out")])


def _train_in_fresh_process(manifest_dir: Path, exp_dir: Path, *overrides: str) -> str:
    """``python train.py ...`` from the recipe's folder, as run.sh runs it (no thread settings in the environment)."""
    env = {key: value for key, value in os.environ.items() if not key.endswith("_NUM_THREADS")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    command = [sys.executable, "train.py", f"data.manifest_dir={manifest_dir}", f"exp_dir={exp_dir}", "model.hidden=4",
               "model.depth=3", "data.batch_size=2", "data.segment_seconds=0.3", "data.stride_seconds=0.25",
               "data.valid_segment_seconds=0.5", "data.shift=800", "data.val_batches=1", "data.perceptual_valid_items=2",
               "data.perceptual_valid_seconds=0.2", "trainer.progress_bar=false", "trainer.log_every_n_steps=1", *overrides]
    result = subprocess.run(command, cwd=RECIPE, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def test_a_rerun_with_the_defaults_gives_the_same_numbers(manifests, tmp_path):
    """Two runs of the CDPAM variant (random crops, shifts, remix, CDPAM sub-segments, shuffled batches)
    in fresh processes end with bit-identical weights and logs: seeded draws, one fixed thread count
    and deterministic algorithms by default. And they run quietly: no warning, no advertising tip."""
    cdpam = ("loss=cdpam", "data.max_steps.from_scratch=2", "data.cdpam_segment_seconds=0.1", "data.val_every.from_scratch=2")
    runs = [tmp_path / "first", tmp_path / "second"]
    for exp in runs:
        stderr = _train_in_fresh_process(manifests, exp, *cdpam)
        noise = [line for line in stderr.splitlines() if "Warning" in line or "warn(" in line or "Tip:" in line]
        assert not noise, "\n".join(noise)
    first, second = (torch.load(exp / "model_last.pt", weights_only=True) for exp in runs)
    assert first["config"] == second["config"]
    assert all(torch.equal(first["state_dict"][k], second["state_dict"][k]) for k in first["state_dict"])
    logs = [next((exp / "logs" / "csv").rglob("metrics.csv")).read_text() for exp in runs]
    assert "train_cdpam" in logs[0] and logs[0] == logs[1]


VARIANT_FILES = sorted(p.stem for p in (RECIPE / "conf" / "loss").glob("*.yaml"))


@pytest.mark.parametrize("variant", VARIANT_FILES)
def test_every_variants_checkpoint_enhances_a_folder(variant, manifests, tmp_path):
    """One training step of each conf/loss/ variant, then enhance.py (its command-line interface) on its model.pt."""
    init = [f"init_from={untrained_model_file(tmp_path / 'start.pt')}"] if variant == "finetune" else []
    if variant in ("pesq", "stoi"):  # these losses need 0.33 s and 0.4 s per item
        init += ["data.segment_seconds=0.5", "data.perceptual_valid_seconds=0.5"]
    cfg = config(manifests, tmp_path / variant, f"loss={variant}", "data.max_steps.from_scratch=1", "data.max_steps.fine_tune=1",
                 "data.val_every.from_scratch=1", "data.perceptual_valid_items=1", "data.cdpam_segment_seconds=0.05", *init)
    if variant == "pesq":
        pytest.importorskip("torch_pesq", reason="loss=pesq needs torch-pesq (the recipes extra)")
    model_path = train(cfg)
    training = torch.load(model_path, weights_only=True)["training"]
    assert training["variant"] == variant and training["steps"] == 1
    assert training["perceptual"] == cfg.loss.terms.perceptual and training["cpu_seconds_per_step"] > 0
    noisy_dir = tmp_path / "noisy"
    noisy_dir.mkdir()
    speech, _ = read_audio(SPEECH, 22050, mono=True)
    sf.write(noisy_dir / "a.wav", speech[:22050], 22050)
    out_dir = tmp_path / "enhanced"
    assert load_script("demucs", "enhance").main(["--checkpoint", str(model_path), "--noisy-dir", str(noisy_dir),
                                                  "--out-dir", str(out_dir)]) == 0
    audio, rate = sf.read(out_dir / "a.wav")
    assert [p.name for p in out_dir.iterdir()] == ["a.wav"] and rate == 16000 and len(audio) == 16000
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0
