"""CDPAM-lite ships in the package, is sha256-checked, and ``weights="lite"`` selects it at every
entry point: each must give what the packaged file gives when loaded by path, and not the
official numbers."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import metric.weights as weights_module
from cdpam_plugins import CDPAMLoss, CDPAMMetric
from metric import CDPAM, cdpam_distance, load_network
from metric.cli import main
from metric.weights import LITE_PATH, WeightsError, lite_weights_path


@pytest.fixture(scope="module")
def pair(clips):
    return torch.from_numpy(clips["ref"][:22050]), torch.from_numpy(clips["4"][:22050])


@pytest.fixture(scope="module")
def by_path(pair):
    """Distance of the pair by the packaged file loaded through its path (the reference for every entry point)."""
    return float(CDPAM(22050, weights=str(LITE_PATH))(*pair)[0])


def test_packaged_file_is_small_checked_and_a_student(tmp_path, monkeypatch):
    assert LITE_PATH.stat().st_size < 8_000_000
    assert lite_weights_path() == LITE_PATH
    network = load_network("lite")
    assert network.encoder.flops(22050) * 10 <= load_network("official").encoder.flops(22050)
    altered = tmp_path / "cdpam_lite.pt"
    shutil.copy(LITE_PATH, altered)
    with open(altered, "r+b") as handle:
        handle.seek(-10, 2)
        handle.write(b"0123456789")
    monkeypatch.setattr(weights_module, "LITE_PATH", altered)
    with pytest.raises(WeightsError, match="sha256"):
        weights_module.read_network_state("lite")


def test_cdpam_and_cdpam_distance(pair, by_path):
    lite = float(CDPAM(22050, weights="lite")(*pair)[0])
    assert lite == pytest.approx(by_path, rel=1e-6)
    assert float(cdpam_distance(*pair, 22050, weights="lite")[0]) == pytest.approx(by_path, rel=1e-6)
    assert lite != pytest.approx(float(cdpam_distance(*pair, 22050)[0]), rel=1e-3)


def test_loss_gives_the_lite_distance_and_gradients(pair, by_path):
    reference, estimate = pair
    estimate = estimate[None].clone().requires_grad_(True)
    loss = CDPAMLoss(22050, weights="lite")(estimate, reference[None])
    assert float(loss.detach()) == pytest.approx(by_path, rel=1e-5)
    loss.backward()
    assert estimate.grad is not None and float(estimate.grad.abs().sum()) > 0


def test_torchmetrics_metric(pair, by_path):
    metric = CDPAMMetric(22050, weights="lite")
    metric.update(pair[1][None], pair[0][None])
    assert float(metric.compute()) == pytest.approx(by_path, rel=1e-5)


def test_cdpam_score_weights_lite(tmp_path, pair, capsys):
    import soundfile as sf

    sf.write(tmp_path / "ref.wav", pair[0].numpy(), 22050, subtype="FLOAT")
    sf.write(tmp_path / "est.wav", pair[1].numpy(), 22050, subtype="FLOAT")
    assert main(["score", str(tmp_path / "ref.wav"), str(tmp_path / "est.wav"), "--weights", "lite", "--json", "-q"]) == 0
    reported = json.loads(capsys.readouterr().out)["results"][0]["distance"]
    expected = float(CDPAM(22050, weights=str(LITE_PATH))(*pair)[0])
    assert reported == pytest.approx(expected, rel=1e-5)


def test_cdpam_evaluate_weights_lite(tmp_path):
    out = tmp_path / "eval"
    code = main(["evaluate", "monotonicity", "--metrics", "mse", "--weights", "lite", "--weights", str(LITE_PATH),
                 "--corpus", "sample", "--seconds", "0.5", "--quiet", "--out", str(out), "--contents", "1",
                 "--families", "pops", "--combinations", "", "--levels", "0.2,0.8", "--no-plots", "--no-baselines"])
    assert code == 0
    result = json.loads((out / "results.json").read_text())["results"][0]
    distances = result["raw"]["distances"]
    np.testing.assert_allclose(distances["cdpam_lite"], distances[f"cdpam[{LITE_PATH.stem}]"], rtol=1e-6)
    assert "| cdpam_lite |" in (out / "results.md").read_text()
