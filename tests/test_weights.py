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


def test_own_checkpoint_round_trips_through_the_safe_path(tmp_path):
    torch.manual_seed(1)
    network = CDPAMNetwork().eval()
    path = W.save_network(network, tmp_path / "mine.pt", stage="test")
    metric = CDPAM(sample_rate=16000, weights=path)
    x = torch.randn(1, 4000) * 0.1
    y = x + 0.05 * torch.randn(1, 4000)
    expected = network.lossnet(
        *(network.acoustic_embedding(CDPAM(16000, weights=path).prepare(s).waveform) for s in (x, y))
    )
    assert torch.allclose(metric(x, y), expected, atol=1e-5)


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
            if re.search(r"weights_only\s*=\s*False", line) and "re.search" not in line:
                hits.append((path.relative_to(REPO), number))
    assert len(hits) == 1, hits
    source = (REPO / hits[0][0]).read_text().splitlines()
    guard = "\n".join(source[max(0, hits[0][1] - 6) : hits[0][1]])
    assert "verify_official_file" in guard
