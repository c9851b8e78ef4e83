"""Writing files so that a kill, crash or full disk mid-write never leaves a half-written file.

The data goes to a temporary file in the target's folder, is flushed and fsynced, and is then
renamed over the target (``os.replace`` is atomic on POSIX and Windows): readers see the old
file or the new one, never a mix. Used for converted weights, training checkpoints and recipe
checkpoints alike.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import torch


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # e.g. Windows: directories cannot be opened; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, write: Callable) -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, fsync it, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the result the usual permissions
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_torch_save(obj, path: str | Path) -> Path:
    """``torch.save(obj, path)`` through :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, lambda handle: torch.save(obj, handle))
