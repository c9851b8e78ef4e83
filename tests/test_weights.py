"""Official weights: located without importing `cdpam`, verified, converted once, loaded safely."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

from metric import CDPAM, WeightsError
from metric import weights as W
from metric.model import CDPAMNetwork

REPO = Path(__file__).resolve().parents[1]


def test_official_file_is_found_and_verified_without_importing_cdpam():
    import sys

    path = W.official_checkpoint_path()
    assert path.stat().st_size == W.OFFICIAL_SIZE
    W.verify_official_file(path)
    assert "cdpam" not in sys.modules, "the official package must never be imported"


def test_converted_cache_is_weights_only_loadable(tmp_path, monkeypatch):
    monkeypatch.setenv("CDPAM_CACHE_DIR", str(tmp_path))
    converted = W.official_weights_path()
    assert converted.parent == tmp_path
    loaded = torch.load(converted, weights_only=True)
    assert loaded["format"] == W.CHECKPOINT_FORMAT
    state = loaded["state_dict"]
    assert len(state) == 130
    assert state["encoder.convs.15.weight"].shape == (1024, 512, 15)
    assert state["lossnet.layers.0.weight"].shape == (256, 512)
    network = W.load_network("official")
    assert not network.training and not any(p.requires_grad for p in network.parameters())


def test_xdg_cache_home_is_respected(tmp_path, monkeypatch):
    monkeypatch.delenv("CDPAM_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert W.cache_dir() == tmp_path / "cdpam-plugins"


def _copy_official(tmp_path: Path) -> Path:
    copy = tmp_path / "official.pth"
    shutil.copyfile(W.official_checkpoint_path(), copy)
    return copy


def test_tampered_official_file_is_refused_before_unpickling(tmp_path, monkeypatch):
    tampered = _copy_official(tmp_path)
    with open(tampered, "r+b") as handle:
        handle.seek(50_000_000)
        byte = handle.read(1)
        handle.seek(50_000_000)
        handle.write(bytes([byte[0] ^ 0xFF]))

    def forbidden(*args, **kwargs):
        raise AssertionError("torch.load must not run on an unverified file")

    monkeypatch.setattr(W.torch, "load", forbidden)
    with pytest.raises(WeightsError, match="sha256"):
        W.convert_official(source=tampered, destination=tmp_path / "out.pt")


def test_truncated_official_file_is_refused(tmp_path):
    truncated = _copy_official(tmp_path)
    with open(truncated, "r+b") as handle:
        handle.truncate(1_000_000)
    with pytest.raises(WeightsError, match="truncated"):
        W.verify_official_file(truncated)


def test_missing_package_names_the_fix(monkeypatch):
    monkeypatch.setattr(W.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsError, match=r"pip install cdpam==0\.0\.6"):
        W.official_checkpoint_path()


def test_corrupt_cache_is_rebuilt_from_the_verified_official_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CDPAM_CACHE_DIR", str(tmp_path))
    cached = tmp_path / W.CONVERTED_NAME
    cached.write_bytes(b"not a checkpoint at all")
    network = W.load_network("official")
    assert network.encoder.convs[0].weight.shape == (64, 1, 15)
    assert torch.load(cached, weights_only=True)["format"] == W.CHECKPOINT_FORMAT


def _trained_like(network: CDPAMNetwork, seed: int) -> CDPAMNetwork:
    """Random weights and non-trivial BatchNorm statistics, as after training."""
    torch.manual_seed(seed)
    for norm in network.encoder.norms:
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
    return network.eval()


@pytest.mark.parametrize(
    "architecture",
    [{}, {"encoder_base_channels": 8}, {"encoder_layers": 8, "encoder_base_channels": 4}],
    ids=["released", "base8", "8layers-base4"],
)
def test_a_network_of_any_width_round_trips_through_the_safe_path(tmp_path, architecture):
    network = _trained_like(CDPAMNetwork(**architecture), seed=1)
    path = W.save_network(network, tmp_path / "mine.pt", stage="test")
    assert W.architecture_of(W.read_network_state(path)) == network.architecture
    assert torch.load(path, weights_only=True)["metadata"]["encoder_base_channels"] == str(network.architecture["encoder_base_channels"])
    loaded = W.load_network(path)
    assert loaded.architecture == network.architecture and not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    metric = CDPAM(sample_rate=16000, weights=path)
    x = torch.randn(2, 4000) * 0.1
    y = x + 0.05 * torch.randn(2, 4000)
    with torch.no_grad():
        expected = network(*(CDPAM(16000).prepare(s).waveform for s in (x, y)))
    assert torch.allclose(metric(x, y), expected, atol=1e-5, rtol=0)
    assert torch.allclose(metric(x, y), CDPAM(16000, weights=network)(x, y), atol=1e-6, rtol=0)


def test_a_wrapped_state_dict_loads_and_its_extra_keys_are_left_out(tmp_path):
    network = _trained_like(CDPAMNetwork(encoder_base_channels=4), seed=2)
    wrapped = {f"model.network.{k}": v for k, v in network.state_dict().items()}
    wrapped["model.network.projection.layers.0.weight"] = torch.zeros(3, 3)  # a training head: not part of the metric
    torch.save({"state_dict": wrapped, "epoch": 3}, tmp_path / "lightning.ckpt")
    loaded = W.load_network(tmp_path / "lightning.ckpt")
    for key, value in network.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_shapes_that_cannot_be_a_cdpam_network_are_refused_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match="multiple of 4"):
        CDPAMNetwork(encoder_layers=6)
    with pytest.raises(ValueError, match=">= 1"):
        CDPAMNetwork(encoder_base_channels=0)
    state = CDPAMNetwork(encoder_base_channels=4).state_dict()
    torch.save({k: v for k, v in state.items() if not k.startswith("encoder.convs.15.")}, tmp_path / "cut.pt")
    with pytest.raises(WeightsError):
        W.load_network(tmp_path / "cut.pt")
    torch.save({k: v for k, v in state.items() if not k.startswith("lossnet.")}, tmp_path / "encoder_only.pt")
    with pytest.raises(WeightsError, match="lossnet"):
        CDPAM(sample_rate=16000, weights=tmp_path / "encoder_only.pt")
    torch.save({"something.else": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="no CDPAM network"):
        W.load_network(tmp_path / "other.pt")


def test_parts_load_only_into_a_network_of_the_same_encoder_shape(tmp_path):
    source = _trained_like(CDPAMNetwork(encoder_base_channels=8), seed=3)
    path = W.save_network(source, tmp_path / "base8.pt")
    target = CDPAMNetwork(encoder_base_channels=8)
    assert W.load_parts(target, path, ["encoder", "lossnet"]) == ["encoder", "lossnet"]
    assert torch.equal(target.encoder.convs[3].weight, source.encoder.convs[3].weight)
    assert torch.equal(target.lossnet.layers[0].weight, source.lossnet.layers[0].weight)
    assert not torch.equal(target.judgment.layers[0].weight, source.judgment.layers[0].weight)
    with pytest.raises(WeightsError, match="model.encoder_base_channels=8"):
        W.load_parts(CDPAMNetwork(encoder_base_channels=16), path, ["encoder"])
    with pytest.raises(ValueError, match="unknown network parts"):
        W.load_parts(target, path, ["projection"])


def test_pickled_checkpoint_needing_code_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": Payload()}, evil)
    with pytest.raises(WeightsError, match="weights_only"):
        CDPAM(sample_rate=16000, weights=evil)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(WeightsError):
        CDPAM(sample_rate=16000, weights=garbage)
    with pytest.raises(WeightsError, match="No weights file"):
        CDPAM(sample_rate=16000, weights=tmp_path / "absent.pt")


def test_unsafe_load_appears_exactly_once_and_is_guarded():
    hits = []
    for path in REPO.rglob("*.py"):
        if any(part in {".venv", "venv", "build"} for part in path.parts):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            # Lightning's save_checkpoint(..., weights_only=False) writes the full training state; it loads nothing
            if re.search(r"weights_only\s*=\s*False", line) and "re.search" not in line and "save_checkpoint(" not in line:
                hits.append((path.relative_to(REPO), number))
    assert len(hits) == 1, hits
    source = (REPO / hits[0][0]).read_text().splitlines()
    guard = "\n".join(source[max(0, hits[0][1] - 6) : hits[0][1]])
    assert "verify_official_file" in guard
