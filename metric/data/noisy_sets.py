"""Noisy/clean test sets mixed from clean speech and noise at chosen SNRs, generated from a seed.

``prepare_toy_test_set(out_dir)`` builds the *large toy test set*: every utterance of the toy
corpus's test speakers (15 utterances, 4 speakers, none of them in training or validation) under
``conditions_per_utterance`` (default 4) of the :data:`TEST_NOISE_KINDS` x :data:`TEST_SNRS_DB`
conditions, 60 pairs by default, and writes its manifest ``<out_dir>/test_large.json``
(entries as :mod:`metric.data.enhancement` writes them, plus ``utterance``, ``speaker``,
``noise_kind`` and ``snr_db``) with its audio under ``<out_dir>/wav<rate>k/test_large/``.
Nothing of it is committed: the same seed and package versions give the same files.

Noise kinds. The first five are the kinds of the toy corpus's training set, made from test
material only; the last four are kinds no split of the toy corpus contains:

* ``white``, ``pink``, ``brown``: Gaussian noise with power spectral density ~ 1, 1/f, 1/f²;
* ``babble``: six excerpts of the *other* test speakers' utterances, each at unit RMS;
* ``music``: the toy test split's music-on-hold noise, recovered as noisy − clean from the test
  pairs whose noise is music (``metric.data.toy.enhancement_conditions``);
* ``speech_shaped``: stationary Gaussian noise with the long-term power spectrum of the other
  test speakers' speech (the masker of many intelligibility tests);
* ``modulated``: pink noise whose amplitude follows ``1 + sin(2π f t)``, f drawn in 2–8 Hz
  (a fluctuating masker, with syllable-rate dips);
* ``hum``: mains hum, 50 or 60 Hz with its harmonics up to 4 kHz at amplitude 1/k, random phases;
* ``clicks``: 5 ms bursts of white noise with exponentially decaying envelopes, about 8 per
  second at random times (impulsive noise).

SNR is the ratio of the clean utterance's energy to the noise's over the whole file (as the toy
corpus's enhancement set defines it). When a mixture would clip, clean and noisy are scaled
down together (the SNR is unchanged) so that the noisy peak is 0.99.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from metric.io import read_audio
from metric.perturb.noise import _coloured, _looped_excerpt, _unit_rms

TEST_NOISE_KINDS = ("white", "pink", "brown", "babble", "music", "speech_shaped", "modulated", "hum", "clicks")
TRAINING_NOISE_KINDS = ("white", "pink", "brown", "babble", "music")  # the kinds of the toy corpus's training split
TEST_SNRS_DB = (-5.0, 0.0, 5.0, 10.0, 15.0, 20.0)
BABBLE_TALKERS = 6
PEAK = 0.99
SPLIT = "test_large"


def _speech_shaped(n: int, rng: np.random.Generator, speech: Sequence[np.ndarray]) -> np.ndarray:
    """Gaussian noise with the long-term power spectrum of ``speech`` (the average of its frames' spectra)."""
    frame = 512
    window = np.hanning(frame)
    spectra = [np.abs(np.fft.rfft(window * signal[start : start + frame])) ** 2
               for signal in speech for start in range(0, len(signal) - frame + 1, frame // 2)]
    if not spectra:
        raise ValueError("speech-shaped noise needs speech of at least 512 samples")
    envelope = np.sqrt(np.mean(spectra, axis=0))  # amplitude per bin of a 512-point FFT
    spectrum = np.fft.rfft(rng.standard_normal(n))
    bins = np.linspace(0, frame // 2, len(spectrum))  # the envelope interpolated to this length's bins
    return _unit_rms(np.fft.irfft(spectrum * np.interp(bins, np.arange(len(envelope)), envelope), n))


def _modulated(n: int, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    rate = rng.uniform(2.0, 8.0)
    time = np.arange(n) / sample_rate
    return _unit_rms(_coloured(n, rng, sample_rate, 1.0) * (1.0 + np.sin(2 * np.pi * rate * time + rng.uniform(0, 2 * np.pi))))


def _hum(n: int, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    mains = float(rng.choice([50.0, 60.0]))
    time = np.arange(n) / sample_rate
    harmonics = np.arange(1, int(min(4000.0, sample_rate / 2) // mains) + 1)
    phases = rng.uniform(0, 2 * np.pi, len(harmonics))
    return _unit_rms(sum(np.sin(2 * np.pi * mains * k * time + phase) / k for k, phase in zip(harmonics, phases)))


def _clicks(n: int, rng: np.random.Generator, sample_rate: int, per_second: float = 8.0) -> np.ndarray:
    burst = int(0.005 * sample_rate)
    envelope = np.exp(-np.arange(burst) / (burst / 5.0))
    noise = np.zeros(n)
    count = max(1, int(rng.poisson(per_second * n / sample_rate)))
    for start in rng.integers(0, max(1, n - burst), count):
        noise[start : start + burst] += rng.standard_normal(burst) * envelope[: n - start]
    return _unit_rms(noise)


def make_noise(kind: str, n: int, sample_rate: int, rng: np.random.Generator, *,
               speech: Sequence[np.ndarray] = (), music: Sequence[np.ndarray] = ()) -> np.ndarray:
    """``n`` samples of unit-RMS noise of ``kind`` (:data:`TEST_NOISE_KINDS`).

    ``speech``: other talkers' utterances (babble, speech-shaped noise); ``music``: music recordings.
    """
    if kind in ("white", "pink", "brown"):
        return _coloured(n, rng, sample_rate, {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind])
    if kind in ("babble", "speech_shaped") and not speech:
        raise ValueError(f"{kind} noise needs speech=[other talkers' utterances]")
    if kind == "babble":
        picks = rng.choice(len(speech), size=BABBLE_TALKERS, replace=len(speech) < BABBLE_TALKERS)
        return _unit_rms(sum(_unit_rms(_looped_excerpt(speech[i], n, rng)) for i in picks))
    if kind == "speech_shaped":
        return _speech_shaped(n, rng, speech)
    if kind == "music":
        if not music:
            raise ValueError("music noise needs music=[recordings]")
        return _unit_rms(_looped_excerpt(music[int(rng.integers(len(music)))], n, rng))
    if kind == "modulated":
        return _modulated(n, rng, sample_rate)
    if kind == "hum":
        return _hum(n, rng, sample_rate)
    if kind == "clicks":
        return _clicks(n, rng, sample_rate)
    raise ValueError(f"unknown noise kind {kind!r}; choose one of {', '.join(TEST_NOISE_KINDS)}")


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float, peak: float = PEAK) -> tuple[np.ndarray, np.ndarray]:
    """``(noisy, clean)`` with ``10 log10(Σ clean² / Σ noise²) = snr_db``, both scaled down if the noisy peak exceeds ``peak``."""
    scale = np.sqrt(np.sum(clean**2) / (np.sum(noise**2) * 10 ** (snr_db / 10)))
    noisy = clean + scale * noise
    top = np.max(np.abs(noisy))
    gain = peak / top if top > peak else 1.0
    return noisy * gain, clean * gain


def _toy_music(sample_rate: int) -> list[np.ndarray]:
    """The toy test split's music noise: noisy − clean of its pairs mixed with music."""
    from .toy import enhancement_conditions, enhancement_pairs

    kinds = {condition.utterance_id: condition.noise_kind for condition in enhancement_conditions("test")}
    music = []
    for noisy_path, clean_path in enhancement_pairs("test"):
        if kinds.get(Path(noisy_path).stem) == "music":
            noisy, _ = read_audio(noisy_path, sample_rate, mono=True)
            clean, _ = read_audio(clean_path, sample_rate, mono=True)
            music.append(noisy.astype(np.float64) - clean.astype(np.float64))
    return music


def _snr_tag(snr_db: float) -> str:
    return f"{'m' if snr_db < 0 else ''}{abs(snr_db):g}dB"


def prepare_toy_test_set(out_dir: str | Path, sample_rate: int = 16_000, *, conditions_per_utterance: int = 4,
                         noise_kinds: Sequence[str] = TEST_NOISE_KINDS, snrs_db: Sequence[float] = TEST_SNRS_DB,
                         seed: int = 0) -> Path:
    """Build the large toy test set (see the module's docstring) in ``out_dir``; returns its manifest's path.

    Conditions are dealt in a seeded order so that each of the ``len(noise_kinds) * len(snrs_db)``
    conditions is used once before any is used twice; an utterance never gets the same condition twice.
    """
    from .enhancement import write_manifest
    from .toy import utterances

    unknown = [kind for kind in noise_kinds if kind not in TEST_NOISE_KINDS]
    if unknown:
        raise ValueError(f"unknown noise kinds {unknown}; choose from {', '.join(TEST_NOISE_KINDS)}")
    conditions = [(kind, float(snr)) for kind in noise_kinds for snr in snrs_db]
    if not 1 <= conditions_per_utterance <= len(conditions):
        raise ValueError(f"conditions_per_utterance must be in 1..{len(conditions)}, got {conditions_per_utterance}")
    rng = np.random.default_rng(seed)
    items = utterances("test", sample_rate=16_000)
    speech = {item.utterance_id: read_audio(item.path, sample_rate, mono=True)[0].astype(np.float64) for item in items}
    music = _toy_music(sample_rate) if "music" in noise_kinds else []
    order = [conditions[i] for i in rng.permutation(len(conditions))]
    out_dir = Path(out_dir)
    wav_dir = out_dir / f"wav{sample_rate // 1000}k" / SPLIT
    entries = []
    for index, item in enumerate(items):
        others = [speech[other.utterance_id] for other in items if other.speaker != item.speaker]
        clean = speech[item.utterance_id]
        for slot in range(conditions_per_utterance):
            kind, snr = order[(index * conditions_per_utterance + slot) % len(order)]
            noise = make_noise(kind, len(clean), sample_rate, rng, speech=others, music=music)
            noisy, scaled_clean = mix_at_snr(clean, noise, snr)
            pair_id = f"{item.utterance_id}__{kind}_{_snr_tag(snr)}"
            paths = {name: wav_dir / name / f"{pair_id}.wav" for name in ("noisy", "clean")}
            for name, audio in (("noisy", noisy), ("clean", scaled_clean)):
                paths[name].parent.mkdir(parents=True, exist_ok=True)
                sf.write(str(paths[name]), audio.astype(np.float32), sample_rate, subtype="PCM_16")
            entries.append({"id": pair_id, "noisy": str(paths["noisy"].resolve()), "clean": str(paths["clean"].resolve()),
                            "samples": len(clean), "sample_rate": sample_rate, "utterance": item.utterance_id,
                            "speaker": item.speaker, "noise_kind": kind, "snr_db": snr})
    return write_manifest(entries, out_dir, SPLIT)
