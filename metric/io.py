"""Reading audio files into float32 arrays in [-1, 1].

soundfile (libsndfile) reads WAV, FLAC, Ogg/Vorbis, Opus and MP3 without any
system library; other formats (m4a, aac, wma, …) are decoded by an ``ffmpeg``
executable when one is on ``PATH``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".caf", ".w64"}
FFMPEG_SUFFIXES = {".m4a", ".aac", ".wma", ".webm", ".mp4", ".mka"}
AUDIO_SUFFIXES = SOUNDFILE_SUFFIXES | FFMPEG_SUFFIXES


class AudioFileError(RuntimeError):
    """A file that cannot be read as audio; the message says why."""


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """``(samples [channels, T] float32 in [-1, 1], sample_rate)``."""
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file")
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
