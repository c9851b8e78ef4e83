"""The codec families run through libsndfile's real MP3 (LAME/mpg123) and Opus encoders."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from metric.perturb import describe, perturb
from metric.resample import resample_array


def encoded_bytes(x, rate, family, level) -> int:
    params = describe(family, level, rate)
    buffer = io.BytesIO()
    if family == "mp3":
        sf.write(buffer, x, rate, format="MP3", subtype="MPEG_LAYER_III",
                 compression_level=params["compression_level"], bitrate_mode="CONSTANT")
    else:
        sf.write(buffer, x, rate, format="OGG", subtype="OPUS", compression_level=params["compression_level"])
    return buffer.tell()


def snr_db(reference, degraded) -> float:
    return float(10 * np.log10(np.sum(reference**2) / np.sum((reference - degraded) ** 2)))


def high_band_energy(x, rate, above_hz):
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float(np.sum(np.abs(np.fft.rfft(x))[freqs > above_hz] ** 2))


def test_codecs_are_available_in_the_bundled_libsndfile():
    assert "MPEG_LAYER_III" in sf.available_subtypes("MP3")
    assert "OPUS" in sf.available_subtypes("OGG")


@pytest.mark.parametrize("family", ["mp3", "opus"])
def test_documented_bitrate_is_what_the_encoder_writes(family, clips):
    x = resample_array(clips["ref"], 22050, 16000)
    seconds = len(x) / 16000
    for level in (0.0, 0.5, 1.0):
        nominal = describe(family, level, 16000)["kbps"]
        actual = encoded_bytes(x, 16000, family, level) * 8 / seconds / 1000
        # container overhead and the encoders' discrete bitrate steps: within 35 % (plus 3 kbps of headers)
        assert actual == pytest.approx(nominal, rel=0.35, abs=3.0), (level, nominal, actual)


def test_mp3_output_is_the_real_encoder_roundtrip(clips):
    x = clips["ref"]  # 22,050 Hz: LAME codes it as MPEG-2
    params = describe("mp3", 0.3, 22050)
    buffer = io.BytesIO()
    sf.write(buffer, x, 22050, format="MP3", subtype="MPEG_LAYER_III",
             compression_level=params["compression_level"], bitrate_mode="CONSTANT")
    buffer.seek(0)
    decoded, rate = sf.read(buffer, dtype="float32")
    assert rate == 22050
    y = perturb(x, 22050, "mp3", 0.3)
    n = min(len(decoded), len(x))
    np.testing.assert_allclose(y[:n], np.clip(decoded[:n], -1, 1), atol=1e-6)


@pytest.mark.parametrize("rate", [16000, 22050])
def test_low_bitrate_mp3_is_aligned_and_band_limited(clips, rate):
    x = resample_array(clips["ref"], 22050, rate)
    # at these bitrates LAME resamples internally and its decoder delay is not compensated by libsndfile
    for level in (0.7, 0.9):
        y = perturb(x, rate, "mp3", level)
        assert len(y) == len(x)
        assert snr_db(x, y) > 3.0, f"decoded MP3 not realigned at level {level}"
    assert high_band_energy(perturb(x, rate, "mp3", 1.0), rate, 4000) < 0.01 * high_band_energy(x, rate, 4000)


def test_opus_at_a_rate_it_does_not_support_goes_through_a_supported_one(clips):
    x = clips["ref"]  # Opus takes 8/12/16/24/48 kHz: 22,050 Hz is coded at 24 kHz
    assert describe("opus", 0.5, 22050)["codec_rate"] == 24000
    y = perturb(x, 22050, "opus", 0.0)
    assert len(y) == len(x) and snr_db(x, y) > 20.0
    low = perturb(x, 22050, "opus", 1.0)
    assert 0.0 < snr_db(x, low) < snr_db(x, y)


def test_other_rates_pick_a_codec_rate():
    assert describe("mp3", 0.5, 96000)["codec_rate"] == 48000
    assert describe("opus", 0.5, 44100)["codec_rate"] == 48000
    x = 0.3 * np.sin(2 * np.pi * 300 * np.arange(8000) / 8000)
    for family in ("mp3", "opus"):
        y = perturb(x, 8000, family, 0.2)
        assert len(y) == len(x) and snr_db(x, y) > 10.0
