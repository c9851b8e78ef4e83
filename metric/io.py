"""Reading audio files into float32 arrays in [-1, 1]: the one reader of the project.

``read_audio(path)`` returns every channel at the file's rate; ``mono=True`` averages the
channels and ``sample_rate=`` resamples (:func:`metric.resample.resample_array`), which is
what datasets, perturbations, recipes and scripts want::

    waveform, rate = read_audio("clean.flac", sample_rate=16000, mono=True)   # [T], 16000

soundfile (libsndfile) reads WAV, FLAC, Ogg/Vorbis, Opus and MP3 without any
system library; other formats (m4a, aac, wma, …) are decoded by an ``ffmpeg``
executable when one is on ``PATH``.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from .resample import resample_array

SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".caf", ".w64"}
FFMPEG_SUFFIXES = {".m4a", ".aac", ".wma", ".webm", ".mp4", ".mka"}
AUDIO_SUFFIXES = SOUNDFILE_SUFFIXES | FFMPEG_SUFFIXES


class AudioFileError(RuntimeError):
    """A file that cannot be read as audio; the message says why."""


class MissingAudioFileError(AudioFileError, FileNotFoundError):
    """The audio file does not exist (also a ``FileNotFoundError``)."""


def read_audio(path: str | Path, sample_rate: int | None = None, *, mono: bool = False) -> tuple[np.ndarray, int]:
    """``(samples, rate)``: float32 in [-1, 1], ``[channels, T]`` (``[T]`` with ``mono=True``).

    Args:
        path: any file soundfile reads (wav, flac, ogg, mp3, ...) or ffmpeg decodes.
        sample_rate: resample to this rate (the returned ``rate``); ``None`` keeps the file's.
        mono: average the channels into one ``[T]`` signal.

    Raises :class:`AudioFileError` (naming the file) for a missing or unreadable file.
    """
    channels, rate = _read_channels(Path(path))
    if sample_rate is None or int(sample_rate) == rate:
        return (channels.mean(axis=0).astype(np.float32) if mono else channels), rate
    sample_rate = int(sample_rate)
    if mono:
        return resample_array(channels.mean(axis=0).astype(np.float32), rate, sample_rate), sample_rate
    return np.stack([resample_array(channel, rate, sample_rate) for channel in channels]), sample_rate


@lru_cache(maxsize=64)
def read_audio_cached(path: str, sample_rate: int) -> np.ndarray:
    """Mono ``[T]`` at ``sample_rate`` through a small cache, read-only (noise files reused many times)."""
    audio, _ = read_audio(path, sample_rate, mono=True)
    audio.setflags(write=False)
    return audio


def _read_channels(path: Path) -> tuple[np.ndarray, int]:
    if not path.is_file():
        raise MissingAudioFileError(f"{path}: no such file")
    if path.suffix.lower() in FFMPEG_SUFFIXES:
        return _read_with_ffmpeg(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        if shutil.which("ffmpeg"):
            return _read_with_ffmpeg(path)
        raise AudioFileError(f"{path}: not readable as audio ({str(error).strip()[:160]})") from error
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: the file holds no samples")
    if not np.isfinite(data).all():
        raise AudioFileError(f"{path}: the file holds NaN or Inf samples")
    return np.ascontiguousarray(data.T), int(rate)


def _read_with_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    if not shutil.which("ffmpeg"):
        raise AudioFileError(
            f"{path}: {path.suffix} files need ffmpeg (not found on PATH); install it or convert the file to WAV/FLAC"
        )
    probe = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "wav", "-acodec", "pcm_f32le", "-"],
        capture_output=True,
        timeout=600,
    )
    if probe.returncode != 0 or not probe.stdout:
        message = probe.stderr.decode(errors="replace").strip().splitlines()
        raise AudioFileError(f"{path}: ffmpeg could not decode it ({message[-1] if message else 'no output'})")
    import io

    data, rate = sf.read(io.BytesIO(probe.stdout), dtype="float32", always_2d=True)
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: the file holds no samples")
    return np.ascontiguousarray(data.T), int(rate)
