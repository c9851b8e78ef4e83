"""The input contract: shapes, dtypes, ranges, lengths, sample rates — and the errors for the rest."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metric import AudioInputError, cdpam_distance
from metric.audio import MIN_SAMPLES_AT_MODEL_RATE, parse_lengths, to_model_input
from metric.resample import resample, resampled_length


def _sine(freq, rate, seconds=0.5):
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_resampling_preserves_a_tone(rate):
    out = resample(torch.from_numpy(_sine(440.0, rate)), rate, 22050).numpy()
    assert out.shape[-1] == resampled_length(int(rate * 0.5), rate, 22050)
    expected = _sine(440.0, 22050, out.shape[-1] / 22050)[: out.shape[-1]]
    middle = slice(500, -500)  # edges see the zero padding
    assert np.max(np.abs(out[middle] - expected[middle])) < 2e-3


def test_downsampling_removes_content_above_the_new_nyquist():
    tone = torch.from_numpy(_sine(15000.0, 44100))
    out = resample(tone, 44100, 22050)
    assert float(out[200:-200].abs().max()) < 1e-3


def test_model_input_scaling_and_layouts():
    wave = _sine(300.0, 22050)
    batch = to_model_input(wave, 22050)
    assert batch.waveform.shape == (1, 1, wave.size)
    assert np.allclose(batch.waveform.numpy()[0, 0], wave * 32768)
    for layout in (torch.from_numpy(wave)[None], torch.from_numpy(wave)[None, None], torch.from_numpy(wave)[None, :, None]):
        assert torch.equal(to_model_input(layout, 22050).waveform, batch.waveform)


def test_int16_input_only_when_declared():
    wave = _sine(300.0, 16000)
    pcm = np.round(wave * 32767).astype(np.int16)
    with pytest.raises(AudioInputError, match="pcm='int16'"):
        to_model_input(pcm, 16000)
    declared = to_model_input(pcm, 16000, pcm="int16").waveform
    floats = to_model_input(pcm.astype(np.float32) / 32768, 16000).waveform
    assert torch.allclose(declared, floats, atol=1e-3)


def test_int16_scaled_floats_are_refused_with_the_fix():
    wave = _sine(300.0, 16000) * 32768
    with pytest.raises(AudioInputError, match="divide it by 32768"):
        cdpam_distance(wave, wave, 16000)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused(bad):
    wave = _sine(300.0, 16000)
    wave[100] = bad
    with pytest.raises(AudioInputError, match="NaN or Inf"):
        to_model_input(wave, 16000)


def test_multichannel_needs_a_policy():
    stereo = np.stack([_sine(300.0, 16000), _sine(500.0, 16000)])[None]
    with pytest.raises(AudioInputError, match="channels='mean'"):
        to_model_input(stereo, 16000)
    mean = to_model_input(stereo, 16000, channels="mean").waveform
    expected = to_model_input(stereo.mean(axis=1), 16000).waveform
    assert torch.allclose(mean, expected, atol=1e-3)
    assert to_model_input(stereo, 16000, channels="first").waveform.shape == (1, 1, expected.shape[-1])


@pytest.mark.parametrize("rate", [None, 0, -16000, 16000.5, "16k", float("nan")])
def test_bad_sample_rates(rate):
    with pytest.raises(AudioInputError, match="sample_rate"):
        to_model_input(_sine(300.0, 16000), rate)


def test_too_short_audio_states_the_minimum():
    with pytest.raises(AudioInputError, match="at least"):
        to_model_input(np.zeros(100, np.float32), 16000)
    minimum = int(np.ceil(MIN_SAMPLES_AT_MODEL_RATE * 16000 / 22050))
    to_model_input(np.zeros(minimum, np.float32), 16000)
    with pytest.raises(AudioInputError):
        to_model_input(np.zeros(0, np.float32), 16000)


def test_lengths_parsing():
    assert parse_lengths([0.5, 1.0], 2, 1000).tolist() == [500, 1000]
    assert parse_lengths(torch.tensor([300, 1000]), 2, 1000).tolist() == [300, 1000]
    for bad in ([0.0, 1.0], [1200, 1000], [-5, 100], [0.5]):
        with pytest.raises(AudioInputError):
            parse_lengths(bad, 2, 1000)
    with pytest.raises(AudioInputError, match="mixes"):
        parse_lengths([0.5, 300.0], 2, 1000)


def test_pair_mismatches_are_refused():
    a = np.zeros((2, 4000), np.float32)
    with pytest.raises(AudioInputError, match="different lengths"):
        cdpam_distance(a, np.zeros((2, 3000), np.float32), 16000)
    with pytest.raises(AudioInputError, match="same size"):
        cdpam_distance(a, np.zeros((3, 4000), np.float32), 16000)
    with pytest.raises(AudioInputError, match="booleans|integer|boolean"):
        cdpam_distance(a.astype(bool), a.astype(bool), 16000)


def test_rates_without_a_practical_ratio_are_refused_clearly():
    with pytest.raises(AudioInputError, match="common rate"):
        to_model_input(np.zeros(5000, np.float32), 22051)
