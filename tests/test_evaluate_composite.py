"""Hu & Loizou composite measures against the reference implementation's values and values worked out by hand."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import lfilter, resample_poly

from metric.evaluate import BandLimitedReferenceError, composite
from metric.evaluate.composite import (
    COMPOSITE_KEYS,
    _mean_of_lowest,
    _nearest_peaks,
    composite_from_measures,
    is_band_limited,
    levinson_durbin,
    llr_per_frame,
    log_likelihood_ratio,
    raw_pesq_from_mos_lqo,
    segmental_snr,
    weighted_spectral_slope,
    windowed_frames,
)

SAMPLE_AUDIO = Path(__file__).resolve().parents[1] / "metric" / "assets" / "sample_audio"
REFERENCE_DIR = Path(__file__).resolve().parent / "data" / "composite_reference"
REFERENCE = json.loads((REFERENCE_DIR / "reference.json").read_text())


def speech_16k() -> np.ndarray:
    audio, rate = sf.read(SAMPLE_AUDIO / "ref.wav")
    assert rate == 22050
    return resample_poly(audio, 160, 441)


def noise(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n) * 0.1


@pytest.mark.parametrize("gain, expected_db", [(0.1, 20.0), (10 ** (-5 / 20), 5.0), (1e-3, 35.0), (10.0, -10.0)])
def test_segmental_snr_of_a_constant_snr_error_is_that_snr_limited_to_minus10_35(gain, expected_db):
    # processed = clean * (1 + g): the error g * clean has SNR -20 log10(g) in every frame.
    clean = noise(16000)
    assert segmental_snr(clean, clean * (1 + gain), 16000) == pytest.approx(expected_db, abs=1e-6)


def test_identical_signals_have_zero_llr_and_wss():
    clean = speech_16k()
    assert log_likelihood_ratio(clean, clean, 16000) == pytest.approx(0.0, abs=1e-9)
    assert weighted_spectral_slope(clean, clean, 16000) == pytest.approx(0.0, abs=1e-9)


def test_llr_and_wss_ignore_a_gain_change():
    # LPC vectors and dB spectral slopes are both unchanged by a constant gain.
    clean = speech_16k()
    assert log_likelihood_ratio(clean, 0.5 * clean, 16000) == pytest.approx(0.0, abs=1e-6)
    assert weighted_spectral_slope(clean, 0.5 * clean, 16000) == pytest.approx(0.0, abs=1e-6)


def test_levinson_durbin_recovers_an_ar2_predictor_from_its_exact_autocorrelation():
    # x[n] = 0.5 x[n-1] - 0.3 x[n-2] + e[n]; Yule-Walker: r1 = phi1 r0 / (1 - phi2), r2 = phi1 r1 + phi2 r0.
    phi1, phi2 = 0.5, -0.3
    r1 = phi1 / (1 - phi2)
    r2 = phi1 * r1 + phi2
    np.testing.assert_allclose(levinson_durbin(np.array([1.0, r1, r2])), [1.0, -phi1, -phi2], atol=1e-12)


def test_llr_of_an_ar1_process_against_white_noise_matches_the_closed_form():
    # Order-1 LPC. Clean: AR(1) with coefficient phi, so a_c = [1, -phi] and
    # a_c R_c a_c^T = r0 (1 - phi^2). Processed: white noise, a_p = [1, 0] and
    # a_p R_c a_p^T = r0. Hence LLR = -log(1 - phi^2) = 1.0217 for phi = 0.8.
    # (30 ms frames estimate phi with a small bias towards 0, hence the tolerance.)
    phi = 0.8
    clean = lfilter([1.0], [1.0, -phi], np.random.default_rng(1).standard_normal(16000 * 4))
    processed = np.random.default_rng(2).standard_normal(len(clean))
    values = llr_per_frame(clean, processed, 16000, order=1)
    assert np.mean(values) == pytest.approx(-np.log(1 - phi**2), abs=0.05)


def test_composite_formulas_are_clipped_to_the_mos_range():
    # Worst case by hand: Csig = 3.093 - 1.029*2 + 0.603*1 - 0.009*100 = 0.738 -> 1.
    low = composite_from_measures(pesq=1.0, llr=2.0, wss=100.0, ssnr=-10.0)
    assert low == {"csig": 1.0, "cbak": 1.0, "covl": 1.0}
    # Best case: Cbak = 1.634 + 0.478*4.64 + 0.063*35 = 6.05 -> 5.
    high = composite_from_measures(pesq=4.64, llr=0.0, wss=0.0, ssnr=35.0)
    assert high == {"csig": 5.0, "cbak": 5.0, "covl": 5.0}
    # Unclipped, by hand: Csig = 3.093 - 1.029*0.5 + 0.603*3 - 0.009*20 = 4.2075.
    mid = composite_from_measures(pesq=3.0, llr=0.5, wss=20.0, ssnr=10.0)
    assert mid["csig"] == pytest.approx(4.2075)
    assert mid["cbak"] == pytest.approx(1.634 + 1.434 - 0.14 + 0.63)
    assert mid["covl"] == pytest.approx(1.594 + 2.415 - 0.256 - 0.14)


def read_pair(name: str) -> tuple[np.ndarray, np.ndarray, int]:
    clean, rate = sf.read(REFERENCE_DIR / REFERENCE[name]["clean"])
    degraded, degraded_rate = sf.read(REFERENCE_DIR / REFERENCE[name]["degraded"])
    assert rate == degraded_rate == REFERENCE[name]["sample_rate"]
    return clean, degraded, rate


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_composite_reproduces_the_reference_implementation(name):
    # reference.json: Loizou's composite.m run in Octave on these files (see the folder's README).
    clean, degraded, rate = read_pair(name)
    expected = REFERENCE[name]
    result = composite(clean, degraded, rate)
    for key in ("llr", "wss", "ssnr"):
        assert result[key] == pytest.approx(expected[key], abs=1e-6), key
    for key in ("pesq", "csig", "cbak", "covl"):
        assert result[key] == pytest.approx(expected[key], abs=1e-3), key
    assert windowed_frames(clean, rate).shape[0] == expected["frames"]
    # Entirely the reference's, with its own MATLAB PESQ: the literature's numbers, within 0.01.
    for key in ("csig", "cbak", "covl"):
        assert result[key] == pytest.approx(expected["with_reference_pesq"][key], abs=0.01), key


def test_reference_fixtures_cover_both_rates_and_unclipped_values():
    # Guards the fixtures' usefulness: both rates, and composite values inside (1, 5) so the formulas are tested.
    assert {entry["sample_rate"] for entry in REFERENCE.values()} == {8000, 16000}
    for rate in (8000, 16000):
        inside = [e for e in REFERENCE.values() if e["sample_rate"] == rate and 1 < e["csig"] < 5 and 1 < e["cbak"] < 5]
        assert len(inside) >= 5
    assert max(entry["llr"] for entry in REFERENCE.values()) > 2  # the composite LLR is not limited to 2


def test_raw_pesq_inverts_the_p862_1_mapping():
    # P.862.1: MOS-LQO = 0.999 + 4 / (1 + exp(-1.4945 raw + 4.6607)); raw 2.0 -> 1.63176...
    for raw in (-0.5, 1.0, 2.0, 3.3, 4.5):
        mos_lqo = 0.999 + 4.0 / (1.0 + np.exp(-1.4945 * raw + 4.6607))
        assert raw_pesq_from_mos_lqo(mos_lqo) == pytest.approx(raw, abs=1e-9)


def test_lowest_95_percent_rounds_halves_up_as_matlab():
    # 30 frames: round(28.5) keeps 29 in MATLAB (Python's round would keep 28): mean of 0..28 = 14.
    assert _mean_of_lowest(np.arange(30.0)[::-1]) == 14.0
    assert _mean_of_lowest(np.arange(20.0)) == np.mean(np.arange(19.0))


def test_nearest_peaks_follow_the_reference_search():
    # Bands 0..4 at 0, 10, 20, 15, 25 dB: slopes +10, +10, -5, +10.
    # Rising slopes (0, 1, 3) walk up to the first non-rising slope m (2, 2, end=4) and take band m - 1
    # (1, 1, 3), the band before the peak; the falling slope 2 walks down to the last rising slope (1)
    # and takes band 2, the peak.
    band_db = np.array([[0.0, 10.0, 20.0, 15.0, 25.0]])
    np.testing.assert_array_equal(_nearest_peaks(band_db), [[10.0, 10.0, 20.0, 15.0]])
    # all falling: no rising slope to the left, every slope takes band 0
    np.testing.assert_array_equal(_nearest_peaks(np.array([[9.0, 5.0, 1.0]])), [[9.0, 9.0]])


def test_composite_of_identical_speech_is_perfect():
    clean = speech_16k()
    result = composite(clean, clean, 16000)
    assert set(result) == set(COMPOSITE_KEYS)
    assert all(type(value) is float for value in result.values())
    assert result["csig"] == result["cbak"] == result["covl"] == 5.0
    assert result["ssnr"] == 35.0
    assert result["pesq"] > 4.5


def test_composite_degrades_with_noise_and_matches_its_own_components():
    clean = speech_16k()
    mild = composite(clean, clean + noise(len(clean), 3) * 0.05, 16000)
    strong = composite(clean, clean + noise(len(clean), 3) * 0.5, 16000)
    for key in ("csig", "cbak", "covl", "pesq", "ssnr"):
        assert strong[key] < mild[key], key
    assert strong["llr"] > mild["llr"] and strong["wss"] > mild["wss"]
    expected = composite_from_measures(pesq=mild["pesq"], llr=mild["llr"], wss=mild["wss"], ssnr=mild["ssnr"])
    for key, value in expected.items():
        assert mild[key] == pytest.approx(value)


def test_batches_and_narrow_band_input():
    clean8 = resample_poly(speech_16k(), 1, 2)
    batch = np.stack([clean8, clean8 + noise(len(clean8), 4) * 0.1])
    result = composite(batch, np.stack([clean8, clean8]), 8000)
    assert all(isinstance(value, np.ndarray) and value.shape == (2,) for value in result.values())
    assert result["llr"][0] == pytest.approx(0.0, abs=1e-9)
    single = composite(batch[1], clean8, 8000)
    assert all(result[key][1] == pytest.approx(single[key]) for key in COMPOSITE_KEYS)


def test_band_limited_reference_is_refused_with_a_clear_error():
    upsampled = resample_poly(noise(8000, 5), 2, 1)  # 8 kHz noise upsampled to 16 kHz: nothing above 4 kHz
    assert is_band_limited(upsampled, 16000)
    assert not is_band_limited(noise(16000, 6), 16000)
    assert not is_band_limited(speech_16k(), 16000)
    with pytest.raises(BandLimitedReferenceError, match="band-limited"):
        composite(upsampled, noise(16000, 7), 16000)
    forced = composite(upsampled, upsampled + noise(16000, 7) * 0.01, 16000, allow_band_limited=True)
    assert 1.0 <= forced["csig"] <= 5.0


def test_bad_inputs_say_what_to_do():
    clean = speech_16k()
    with pytest.raises(ValueError, match="8000 or 16000"):
        composite(clean, clean, 22050)
    with pytest.raises(ValueError, match="same shape"):
        composite(clean, clean[:-1], 16000)
    with pytest.raises(ValueError, match="shorter than"):
        composite(clean[:100], clean[:100], 16000)
