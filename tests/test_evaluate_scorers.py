"""Baseline scorers and the CDPAM scorer against values known by construction."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import resample_poly

from metric import cdpam_distance
from metric.evaluate.scorers import (
    CDPAMScorer,
    build_scorer,
    build_scorers,
    log_spectral_distance,
    mse,
    multi_resolution_stft_distance,
    si_sdr,
)

SAMPLE_AUDIO = Path(__file__).resolve().parents[1] / "metric" / "assets" / "sample_audio"


def speech(name: str = "ref.wav", seconds: float = 1.0) -> np.ndarray:
    audio, rate = sf.read(SAMPLE_AUDIO / name)
    return resample_poly(audio, 160, 441)[: int(16000 * seconds)]


def test_mse_by_hand():
    assert mse(np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0]), 16000) == pytest.approx(5 / 3)


def test_si_sdr_of_an_orthogonal_error_20_db_down_is_20_db_and_ignores_scale():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16000)
    x -= x.mean()
    e = rng.standard_normal(16000)
    e -= e.mean()
    e -= np.dot(e, x) / np.dot(x, x) * x  # orthogonal to x
    e *= np.sqrt(np.dot(x, x) / np.dot(e, e) / 100)  # 20 dB below x
    assert si_sdr(x, x + e, 16000) == pytest.approx(20.0, abs=1e-6)
    assert si_sdr(x, 3 * (x + e), 16000) == pytest.approx(20.0, abs=1e-6)


def test_spectral_distances_of_a_gain_of_two():
    x = speech()
    assert log_spectral_distance(x, x, 16000) == 0.0
    # every bin's power differs by 10 log10(4) dB (up to the 1e-10 floor)
    assert log_spectral_distance(x, 2 * x, 16000) == pytest.approx(10 * np.log10(4), abs=0.01)
    assert multi_resolution_stft_distance(x, x, 16000) == 0.0
    # spectral convergence |2X - X| / |X| = 1, log-magnitude L1 = log 2, at every resolution
    assert multi_resolution_stft_distance(x, 2 * x, 16000) == pytest.approx(1 + np.log(2), abs=1e-3)


def test_higher_is_better_scores_become_negated_distances():
    x = speech()
    noisy = x + 0.01 * np.random.default_rng(1).standard_normal(len(x))
    pesq = build_scorer("pesq")
    assert pesq.higher_is_better
    assert pesq.distance(x, noisy, 16000) == pytest.approx(-pesq.score(x, noisy, 16000))
    stoi = build_scorer("stoi")
    assert stoi.distance(x, x, 16000) < stoi.distance(x, noisy, 16000)


def test_an_unscorable_pair_gives_nan_and_a_warning():
    silence = np.zeros(16000)
    with pytest.warns(UserWarning, match="pesq"):
        assert np.isnan(build_scorer("pesq").score(silence, silence, 16000))


def test_unknown_metrics_and_missing_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown metric 'visqol'"):
        build_scorer("visqol")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_scorer(f"checkpoint:{tmp_path / 'missing.pt'}")
    with pytest.raises(ValueError, match="twice"):
        build_scorers(["mse", "mse"])


def test_cdpam_scorer_from_cached_embeddings_matches_cdpam_distance():
    clips = {name: speech(name, 0.3).astype(np.float32) for name in ("ref.wav", "2.wav", "4.wav")}
    pairs = [("ref.wav", "2.wav"), ("ref.wav", "4.wav"), ("2.wav", "4.wav"), ("4.wav", "4.wav")]
    scorer = CDPAMScorer()
    got = scorer.distances(clips, pairs, 16000, progress=False)
    with torch.no_grad():
        expected = [float(cdpam_distance(clips[r], clips[d], 16000)[0]) for r, d in pairs]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert got[3] == 0.0
    assert scorer.distance(clips["ref.wav"], clips["2.wav"], 16000) == pytest.approx(expected[0], abs=1e-4)


def test_cdpam_cache_never_confuses_two_recordings_with_the_same_name():
    a, b = speech("ref.wav", 0.3).astype(np.float32), speech("2.wav", 0.3).astype(np.float32)
    scorer = CDPAMScorer()
    first = scorer.distances({"x": a, "y": a}, [("x", "y")], 16000, progress=False)
    second = scorer.distances({"x": a, "y": b}, [("x", "y")], 16000, progress=False)  # "y" is new audio
    assert first[0] == 0.0 and second[0] > 0.01


def test_stoi_on_too_little_speech_is_unscored_not_a_placeholder():
    # 0.19 s of tone then silence: fewer than STOI's 30 active frames
    x = np.zeros(12000)
    x[:3000] = 0.3 * np.sin(0.1 * np.arange(3000))
    with pytest.warns(UserWarning, match="too little active speech"):
        assert np.isnan(build_scorer("stoi").score(x, x, 16000))


def test_baselines_join_every_report_one_untrained_network_per_width(tmp_path):
    import torch

    from metric.evaluate.scorers import CDPAMScorer, untrained_network
    from metric.model import CDPAMNetwork
    from metric.weights import save_network

    narrow = save_network(CDPAMNetwork(encoder_layers=8, encoder_base_channels=4), tmp_path / "narrow.pt")
    names = [s.name for s in build_scorers(["cdpam", "sisdr"], [narrow])]
    assert names == ["cdpam", "sisdr", "cdpam[narrow]", "mse", "untrained[16x64]", "untrained[8x4]"]
    assert [s.name for s in build_scorers(["cdpam", "mse"], [narrow])].count("mse") == 1
    assert [s.name for s in build_scorers(["sisdr"], baselines=False)] == ["sisdr"]
    # the untrained row is the seeded initialisation of that architecture, not the trained weights
    first, again = untrained_network({"encoder_layers": 8, "encoder_base_channels": 4}), untrained_network({"encoder_layers": 8, "encoder_base_channels": 4})
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    trained = build_scorers([], [narrow], baselines=False)[0]
    assert isinstance(trained, CDPAMScorer) and trained.architecture == {"encoder_layers": 8, "encoder_base_channels": 4}
