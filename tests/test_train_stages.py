"""Each training stage runs a couple of steps on the toy corpus; frozen parts stay out of the
optimiser and the checkpoint; the output folder is checked before training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cdpam_plugins import CDPAMLoss, CDPAMMetric
from metric import CDPAM, cdpam_distance
from metric.cli import main
from metric.train.checkpointing import AtomicCheckpointIO, OutputDirError
from metric.train.data import ConfigError
from metric.train.modules import JNDStage
from metric.train.runner import compose_config, run
from metric.weights import architecture_of, load_network, read_network_state

FAST = [
    "preset=toy_fast",
    "data.segment_seconds=0.25",
    "data.train_size=8",
    "data.val_size=4",
    "optim.batch_size=4",
    "trainer.max_steps=2",
    "trainer.enable_progress_bar=false",
    "evaluation.enabled=false",
    "stage.augment.silence_seconds=0.05",
]


def _fast(stage: str, folder, *extra: str) -> list[str]:
    return [f"stage={stage}", f"output_dir={folder}", *FAST, *extra]


@pytest.fixture(scope="module")
def contrastive_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("contrastive")
    summary = run(compose_config(_fast("contrastive", folder)))
    return folder, summary


def test_contrastive_stage_trains_logs_checkpoints_and_exports(contrastive_run):
    folder, summary = contrastive_run
    assert summary["global_step"] == 2
    assert (folder / "last.ckpt").is_file() and (folder / "config.yaml").is_file()
    assert json.loads((folder / "progress.json").read_text())["global_step"] == 2
    record = json.loads((folder / "run.json").read_text())["starts"][-1]
    assert record["seed"] == 0 and record["summary"]["global_step"] == 2
    assert "name: contrastive" in (folder / "config.yaml").read_text()
    assert list((folder / "logs" / "tensorboard").rglob("events.out.tfevents.*"))
    metrics = next((folder / "logs" / "csv").rglob("metrics.csv")).read_text()
    assert "train_loss" in metrics
    # the exported network holds the trained encoder and scores audio
    network = load_network(summary["export"])
    checkpoint = torch.load(folder / "last.ckpt", map_location="cpu", weights_only=True)
    trained = {k[len("encoder."):]: v for k, v in checkpoint["state_dict"].items() if k.startswith("encoder.")}
    for key, value in network.encoder.state_dict().items():
        assert torch.equal(value, trained[key]), key
    assert not any(k.startswith(("lossnet.", "judgment.")) for k in checkpoint["state_dict"])  # untrained parts: not trainee state
    x = torch.randn(2, 1, 8000) * 3000
    assert torch.isfinite(network(x, x.flip(-1))).all()


def test_a_narrow_export_loads_everywhere_the_official_weights_do(contrastive_run, clips, tmp_path, capsys):
    _, summary = contrastive_run
    path = summary["export"]
    assert architecture_of(read_network_state(path)) == {"encoder_layers": 16, "encoder_base_channels": 8}
    network = load_network(path)
    assert network.encoder.embedding_dim == 128 and network.lossnet.layers[0].in_features == 64
    rate = 22050
    reference = torch.from_numpy(clips["ref"][:11025])[None]
    degraded = torch.from_numpy(clips["2"][:11025])[None]
    with torch.no_grad():
        direct = network(reference[:, None] * 32768, degraded[:, None] * 32768)
    official = float(cdpam_distance(reference, degraded, rate))

    by_module = CDPAM(sample_rate=rate, weights=path)(reference, degraded)
    by_function = cdpam_distance(reference, degraded, rate, weights=path)
    estimate = degraded.clone().requires_grad_(True)
    loss = CDPAMLoss(sample_rate=rate, weights=path)(estimate, reference)
    loss.backward()
    metric = CDPAMMetric(sample_rate=rate, weights=path)
    metric.update(degraded, reference)
    for value in (by_module, by_function, loss, metric.compute()):
        assert abs(float(value.detach()) - float(direct)) < 1e-5, (value, direct)
    assert abs(float(direct) - official) > 1e-3  # its own metric, not the official one
    assert estimate.grad is not None and float(estimate.grad.abs().sum()) > 0

    import soundfile as sf

    sf.write(tmp_path / "ref.wav", reference[0].numpy(), rate, subtype="FLOAT")
    sf.write(tmp_path / "deg.wav", degraded[0].numpy(), rate, subtype="FLOAT")
    capsys.readouterr()
    assert main(["score", str(tmp_path / "ref.wav"), str(tmp_path / "deg.wav"), "--weights", path, "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)["results"][0]["distance"]
    assert abs(scored - float(direct)) < 1e-5
    out = tmp_path / "eval"
    code = main(["evaluate", "monotonicity", "--metrics", f"checkpoint:{path}", "--corpus", "sample", "--seconds", "0.5",
                 "--quiet", "--out", str(out), "--contents", "1", "--families", "pops", "--combinations", "",
                 "--levels", "0.2,0.8", "--no-plots"])
    assert code == 0
    distances = json.loads((out / "results.json").read_text())["results"][0]["raw"]["distances"]
    # beside it, the baseline rows: MSE and an untrained network of the export's width
    assert set(distances) == {"cdpam[cdpam_contrastive]", "mse", "untrained[16x8]"}
    assert all(np.isfinite(v) for values in distances.values() for v in values)


def test_jnd_stage_from_a_contrastive_export(contrastive_run, tmp_path):
    _, previous = contrastive_run
    summary = run(compose_config(_fast("jnd", tmp_path, f"stage.init_from={previous['export']}")))
    assert summary["global_step"] == 2
    before, after = load_network(previous["export"]), load_network(summary["export"])
    for key, value in before.encoder.state_dict().items():
        assert torch.equal(value, after.encoder.state_dict()[key]), f"frozen encoder changed: {key}"
    changed = [k for k, v in before.lossnet.state_dict().items() if not torch.equal(v, after.lossnet.state_dict()[k])]
    assert changed, "the loss-net did not train"


def test_triplet_stage_on_proxy_triplets(contrastive_run, tmp_path):
    _, previous = contrastive_run
    summary = run(compose_config(_fast("triplet", tmp_path, f"stage.init_from={previous['export']}")))
    assert summary["global_step"] == 2
    metrics = next((tmp_path / "logs" / "csv").rglob("metrics.csv")).read_text()
    assert "train_loss" in metrics


def _jnd_module(freeze: bool) -> JNDStage:
    cfg = compose_config(["stage=jnd", "model=tiny", "stage.init_from=null", f"stage.freeze_encoder={str(freeze).lower()}"])
    from omegaconf import OmegaConf

    return JNDStage(OmegaConf.to_container(cfg, resolve=True))


def test_frozen_encoder_is_in_no_optimiser_and_no_state_dict():
    frozen = _jnd_module(freeze=True)
    optimised = {id(p) for group in frozen.configure_optimizers().param_groups for p in group["params"]}
    encoder = frozen.part("encoder")
    assert not any(id(p) in optimised for p in encoder.parameters())
    assert not any(k.startswith("encoder.") for k in frozen.state_dict())
    assert {id(p) for p in frozen.part("lossnet").parameters()} <= optimised
    # a training step moves neither the weights nor the BatchNorm statistics of the frozen encoder
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    frozen.train()
    x = torch.randn(4, 5512) * 0.1
    (distance,) = frozen.distances(x, torch.full((4,), 5512), (x.flip(0), torch.full((4,), 5512)))
    distance.sum().backward()
    assert all(torch.equal(v, encoder.state_dict()[k]) for k, v in before.items())
    assert all(p.grad is None for p in encoder.parameters())

    trainable = _jnd_module(freeze=False)
    optimised = {id(p) for group in trainable.configure_optimizers().param_groups for p in group["params"]}
    assert {id(p) for p in trainable.part("encoder").parameters()} <= optimised
    assert any(k.startswith("encoder.") for k in trainable.state_dict())


def test_output_dir_under_a_file_fails_before_training(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with pytest.raises(OutputDirError, match="is a file"):
        run(compose_config(_fast("contrastive", blocker / "run")))


def test_too_little_disk_space_fails_before_training(tmp_path):
    with pytest.raises(OutputDirError, match="MB free"):
        run(compose_config(_fast("contrastive", tmp_path / "run", "checkpoint.min_free_mb=1e12")))
    assert not (tmp_path / "run" / "logs").exists() and not (tmp_path / "run" / "run.json").exists()


def test_cli_reports_output_dir_problems_cleanly(tmp_path, capsys):
    from metric.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["train", *_fast("contrastive", blocker / "run")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_existing_checkpoint_is_not_overwritten_without_resume(contrastive_run):
    folder, _ = contrastive_run
    with pytest.raises(OutputDirError, match="resume=true"):
        run(compose_config(_fast("contrastive", folder)))


def test_stage_and_data_mismatch_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot train on data=jnd"):
        run(compose_config(_fast("contrastive", tmp_path, "data=jnd")))
    with pytest.raises(ConfigError, match="data.jnd_root"):
        run(compose_config(_fast("jnd", tmp_path, "data=jnd")))


def test_failed_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": torch.tensor(1)}, path)

    def broken_save(obj, handle, *args, **kwargs):
        handle.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OutputDirError, match="full"):
        io.save_checkpoint({"step": torch.tensor(2)}, path)
    monkeypatch.undo()
    assert int(torch.load(path, weights_only=True)["step"]) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
