"""Reliability: numerical safety at the extremes, property-based input checks, and a fuzz of `cdpam score`."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdpam_plugins import CDPAMLoss
from metric import AudioInputError, cdpam_distance
from metric.audio import MAX_FLOAT_AMPLITUDE, MIN_SAMPLES_AT_MODEL_RATE, to_model_input
from metric.cli import main
from metric.resample import resampled_length

RATE = 16000
N = 3200  # 0.2 s


def _speech(clips):
    return torch.from_numpy(clips["ref"][20000 : 20000 + N].copy())


def _extremes(clips):
    rng = np.random.default_rng(0)
    speech = _speech(clips)
    silence = torch.zeros(N)
    full_scale = torch.from_numpy(rng.uniform(-1, 1, N).astype(np.float32))
    clipped = torch.sign(full_scale)  # clipping-level square noise at ±1
    tiny = speech * 1e-9
    return {
        "silence_vs_silence": (silence, silence.clone()),
        "silence_vs_speech": (silence, speech),
        "speech_vs_silence": (speech, silence.clone()),
        "speech_vs_full_scale_noise": (speech, full_scale),
        "speech_vs_clipped_noise": (speech, clipped),
        "tiny_vs_tiny": (tiny, tiny * 0.5),
        "tiny_vs_speech": (tiny, speech),
    }


@pytest.mark.parametrize(
    "case",
    ["silence_vs_silence", "silence_vs_speech", "speech_vs_silence", "speech_vs_full_scale_noise",
     "speech_vs_clipped_noise", "tiny_vs_tiny", "tiny_vs_speech"],
)
def test_distance_and_gradient_stay_finite(clips, case):
    reference, estimate = _extremes(clips)[case]
    estimate = estimate.clone().requires_grad_(True)
    distance = cdpam_distance(reference, estimate, RATE)
    distance.sum().backward()
    assert torch.isfinite(distance).all() and float(distance.detach()) >= 0
    assert torch.isfinite(estimate.grad).all()
    if case == "silence_vs_silence":
        assert float(distance.detach()) == 0.0


AUDIO_RATES = st.sampled_from([8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000])


@st.composite
def audio_batches(draw):
    rate = draw(AUDIO_RATES)
    batch = draw(st.integers(1, 3))
    minimum = int(np.ceil(MIN_SAMPLES_AT_MODEL_RATE * rate / 22050))
    length = draw(st.integers(max(1, minimum - 50), minimum + 2000))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float16]))
    amplitude = draw(st.sampled_from([0.0, 1e-9, 1e-3, 0.5, 1.0, 1.5, 3.0, 32767.0]))
    seed = draw(st.integers(0, 2**16))
    data = (np.random.default_rng(seed).uniform(-1, 1, (batch, length)) * amplitude).astype(dtype)
    layout = draw(st.sampled_from(["BT", "B1T", "BT1", "T"]))
    if layout == "T":
        data = data[0]
    elif layout == "B1T":
        data = data[:, None, :]
    elif layout == "BT1":
        data = data[:, :, None]
    lengths = None
    if draw(st.booleans()) and layout != "T":
        lengths = draw(st.lists(st.integers(-5, length + 5), min_size=batch, max_size=batch))
    return data, rate, lengths, amplitude, minimum, length


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(audio_batches())
def test_input_layer_accepts_or_explains(case):
    data, rate, lengths, amplitude, minimum, total = case
    valid_lengths = lengths is None or all(1 <= n <= total for n in lengths)
    shortest = min(lengths) if lengths else total
    should_fail = amplitude > MAX_FLOAT_AMPLITUDE or not valid_lengths or shortest < minimum
    try:
        prepared = to_model_input(data, rate, lengths)
    except AudioInputError as error:
        assert should_fail, str(error)
        return
    assert not should_fail
    waveform = prepared.waveform
    assert waveform.dim() == 3 and waveform.shape[1] == 1
    assert torch.isfinite(waveform).all()
    assert waveform.shape[-1] == resampled_length(total, rate, 22050)
    assert float(waveform.abs().max()) <= 32768 * amplitude * 2.0 + 1e-3  # band-limited overshoot of white noise
    if prepared.lengths is not None:
        assert prepared.lengths.tolist() == [resampled_length(n, rate, 22050) for n in lengths]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rate=AUDIO_RATES,
    amplitude=st.sampled_from([0.0, 1e-6, 0.3, 1.0]),
    noise=st.sampled_from([0.0, 0.01, 1.0]),
    relative=st.floats(0.6, 1.0),
    seed=st.integers(0, 1000),
)
def test_loss_is_finite_with_finite_gradients(rate, amplitude, noise, relative, seed):
    rng = np.random.default_rng(seed)
    length = int(0.08 * rate)
    target = torch.from_numpy((rng.uniform(-1, 1, (2, length)) * amplitude).astype(np.float32))
    prediction = (target + noise * torch.from_numpy(rng.standard_normal((2, length)).astype(np.float32))).clamp(-1, 1)
    prediction.requires_grad_(True)
    loss = CDPAMLoss(sample_rate=rate)(prediction, target, torch.tensor([1.0, relative]))
    loss.backward()
    assert torch.isfinite(loss) and float(loss.detach()) >= 0
    assert torch.isfinite(prediction.grad).all()


def _fuzz_files(folder, clips, count, rng):
    good = (clips["ref"][:4000] * 32767).astype(np.int16)
    for i in range(count):
        path = folder / f"f{i:03d}.wav"
        kind = i % 5
        if kind == 0:
            path.write_bytes(rng.bytes(int(rng.integers(0, 4000))))
        elif kind == 1:  # a real wav cut short at a random byte
            sf.write(path, good, 22050, subtype="PCM_16")
            data = path.read_bytes()
            path.write_bytes(data[: int(rng.integers(0, len(data)))])
        elif kind == 2:  # a valid header followed by random bytes
            with wave.open(str(path), "wb") as handle:
                handle.setnchannels(int(rng.integers(1, 3)))
                handle.setsampwidth(2)
                handle.setframerate(int(rng.choice([8000, 16000, 22050, 44100])))
                handle.writeframes(rng.bytes(int(rng.integers(0, 3000)) * 4))
        elif kind == 3:  # a real wav with bytes flipped inside the header
            sf.write(path, good, 22050, subtype="PCM_16")
            data = bytearray(path.read_bytes())
            for position in rng.integers(0, 44, 3):
                data[position] = int(rng.integers(0, 256))
            path.write_bytes(bytes(data))
        else:  # text pretending to be a wav
            path.write_text("RIFF" + "x" * int(rng.integers(0, 200)))


def test_fuzz_score_reports_every_bad_file_and_never_crashes(tmp_path, clips, capsys):
    rng = np.random.default_rng(7)
    ref_dir, est_dir = tmp_path / "ref", tmp_path / "est"
    ref_dir.mkdir()
    est_dir.mkdir()
    count = 40
    _fuzz_files(est_dir, clips, count, rng)
    for i in range(count):
        sf.write(ref_dir / f"f{i:03d}.wav", clips["ref"][:4000], 22050)
    code = main(["score", str(ref_dir), str(est_dir), "--json", "-q", "--trim"])
    report = json.loads(capsys.readouterr().out)
    assert len(report["results"]) == count
    for result in report["results"]:
        assert (result["distance"] is None) != (result["error"] is None)
        if result["distance"] is not None:
            assert np.isfinite(result["distance"])
    assert report["failed"] >= count // 5  # at least the pure random-byte files fail
    assert code == (1 if report["failed"] else 0)
