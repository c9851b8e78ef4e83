"""Build the clean/degraded pairs of this folder from the toy corpus (run once; the outputs are committed).

    python tests/data/composite_reference/make_pairs.py

Writes ``<pair>_clean.flac`` / ``<pair>_degraded.flac`` (16-bit, lossless) and ``pairs.json`` (what
each degradation is). The reference values in ``reference.json`` were then computed from these
files as described in README.md. Everything is seeded, but the committed files are the fixtures:
rerunning this script is not needed and tests never do it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve, resample_poly

HERE = Path(__file__).resolve().parent
TOY_SPEECH = HERE.parents[2] / "metric" / "assets" / "toy_corpus" / "speech" / "16k" / "test"
MAX_SECONDS = 2.0


def load(speaker: str, utterance: str, sample_rate: int) -> np.ndarray:
    audio, rate = sf.read(TOY_SPEECH / speaker / f"{utterance}.wav")
    assert rate == 16000
    audio = audio[: int(MAX_SECONDS * rate)]
    return audio if sample_rate == 16000 else resample_poly(audio, 1, 2)


def at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    noise = noise[: len(clean)]
    return clean + noise * np.sqrt(np.sum(clean**2) / np.sum(noise**2) / 10 ** (snr_db / 10))


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    frequency = np.arange(len(spectrum), dtype=np.float64)
    frequency[0] = 1.0
    return np.fft.irfft(spectrum / frequency ** (exponent / 2), n)


def babble(n: int, sample_rate: int, talkers: list[tuple[str, str]]) -> np.ndarray:
    mix = np.zeros(n)
    for speaker, utterance in talkers:
        voice = np.tile(load(speaker, utterance, sample_rate), 3)[:n]
        mix += voice / np.sqrt(np.mean(voice**2))
    return mix


def reverberate(clean: np.ndarray, sample_rate: int, rt60: float, drr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Direct path at lag 0 plus an exponentially decaying Gaussian tail (-60 dB at ``rt60``) whose energy is
    ``drr_db`` below the direct path's; the output has the clean signal's length."""
    t = np.arange(1, int(rt60 * sample_rate)) / sample_rate
    tail = rng.standard_normal(len(t)) * 10 ** (-3 * t / rt60)
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail**2))
    return fftconvolve(clean, np.concatenate([[1.0], tail]))[: len(clean)]


def oracle_wiener(clean: np.ndarray, noisy: np.ndarray, floor: float = 0.1) -> np.ndarray:
    """An 'enhanced' signal with typical artefacts: STFT Wiener gain from the true noise, floored."""
    n_fft, hop = 512, 128
    window = np.hanning(n_fft)
    pad = np.pad(noisy, (n_fft, n_fft))
    noise = np.pad(noisy - clean, (n_fft, n_fft))
    out = np.zeros_like(pad)
    norm = np.zeros_like(pad)
    for start in range(0, len(pad) - n_fft, hop):
        y = np.fft.rfft(pad[start : start + n_fft] * window)
        d = np.fft.rfft(noise[start : start + n_fft] * window)
        gain = np.maximum(1 - np.abs(d) ** 2 / np.maximum(np.abs(y) ** 2, 1e-12), floor)
        out[start : start + n_fft] += np.fft.irfft(gain * y, n_fft) * window
        norm[start : start + n_fft] += window**2
    return (out / np.maximum(norm, 1e-8))[n_fft:-n_fft]


def pairs() -> dict[str, tuple[int, str, np.ndarray, np.ndarray]]:
    made = {}
    for sample_rate, seed in ((16000, 16), (8000, 8)):
        rng = np.random.default_rng(seed)
        tag = f"{sample_rate // 1000}k"

        clean = load("librivox_reader", "librivox_reader_austen-0870-s0", sample_rate)
        made[f"{tag}_white_5dB"] = (sample_rate, "white Gaussian noise at 5 dB SNR", clean,
                                    at_snr(clean, coloured_noise(len(clean), 0, rng), 5))

        clean = load("codec2_speaker", "codec2_speaker_speech-orig-16k-s2", sample_rate)
        talkers = [("librivox_reader", "librivox_reader_austen-0880"), ("pocketsphinx_cmu", "pocketsphinx_cmu_005-s0"),
                   ("alsa_voice", "alsa_voice_Front-Left"), ("librivox_reader", "librivox_reader_austen-0890-s1")]
        made[f"{tag}_babble_0dB"] = (sample_rate, "4-talker babble (other toy-corpus test speakers) at 0 dB SNR",
                                     clean, at_snr(clean, babble(len(clean), sample_rate, talkers), 0))

        clean = load("pocketsphinx_cmu", "pocketsphinx_cmu_something", sample_rate)
        made[f"{tag}_reverb_0.6s"] = (sample_rate, "synthetic room response, RT60 0.6 s, direct-to-reverberant ratio -3 dB",
                                      clean, reverberate(clean, sample_rate, 0.6, -3, rng))

        clean = load("alsa_voice", "alsa_voice_Rear-Right", sample_rate)
        made[f"{tag}_pink_-5dB"] = (sample_rate, "pink noise at -5 dB SNR (low SNR)", clean,
                                    at_snr(clean, coloured_noise(len(clean), 1, rng), -5))

        clean = load("librivox_reader", "librivox_reader_austen-0920", sample_rate)
        noisy = at_snr(reverberate(clean, sample_rate, 0.4, 0, rng), coloured_noise(len(clean), 2, rng), 10)
        made[f"{tag}_reverb_brown_10dB"] = (sample_rate, "RT60 0.4 s / DRR 0 dB reverberation plus brown noise at 10 dB SNR",
                                            clean, noisy)

        clean = load("codec2_speaker", "codec2_speaker_speech-orig-16k-s1", sample_rate)
        noisy = at_snr(clean, babble(len(clean), sample_rate, talkers[:2]) + coloured_noise(len(clean), 0, rng), 5)
        made[f"{tag}_enhanced_wiener"] = (sample_rate, "babble+white noise at 5 dB, then an oracle STFT Wiener filter "
                                          "with gain floor 0.1 (enhancement artefacts)", clean, oracle_wiener(clean, noisy))

        clean = load("pocketsphinx_cmu", "pocketsphinx_cmu_002", sample_rate)
        made[f"{tag}_babble_15dB"] = (sample_rate, "4-talker babble at 15 dB SNR (mild)", clean,
                                      at_snr(clean, babble(len(clean), sample_rate, talkers), 15))

        clean = load("alsa_voice", "alsa_voice_Front-Right", sample_rate)
        made[f"{tag}_reverb_0.3s"] = (sample_rate, "synthetic room response, RT60 0.3 s, DRR +6 dB (mild)",
                                      clean, reverberate(clean, sample_rate, 0.3, 6, rng))
    return made


def main() -> None:
    described = {}
    for name, (sample_rate, description, clean, degraded) in pairs().items():
        peak = max(np.max(np.abs(clean)), np.max(np.abs(degraded)))
        scale = min(1.0, 0.95 / peak)  # one gain for both: no clipping, every measure unchanged
        for kind, signal in (("clean", clean), ("degraded", degraded)):
            sf.write(HERE / f"{name}_{kind}.flac", signal * scale, sample_rate, subtype="PCM_16")
        described[name] = {"sample_rate": sample_rate, "degradation": description,
                           "clean": f"{name}_clean.flac", "degraded": f"{name}_degraded.flac"}
    (HERE / "pairs.json").write_text(json.dumps(described, indent=1) + "\n")


if __name__ == "__main__":
    main()
