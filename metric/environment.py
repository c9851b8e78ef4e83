"""Checks (and, with ``--fix``, repairs) the installed environment.

torchaudio from PyPI is linked against a CUDA build of torch. Beside the CPU
torch this project pins, its compiled extension fails to load, and because
torchaudio loads it on import, ``import torchaudio`` — and with it SpeechBrain
and Asteroid — fails. The pure-Python parts of torchaudio work without it, so
the fix renames the extension libraries out of the loader's way (only when
they really fail to load). Nothing in this project needs them.

    python -m metric.environment          # report
    python -m metric.environment --fix    # report and repair
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

DISABLED_SUFFIX = ".disabled-by-cdpam-plugins"


def torchaudio_lib_dir() -> Path | None:
    spec = importlib.util.find_spec("torchaudio")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "lib"


def torchaudio_imports() -> tuple[bool, str]:
    """Import torchaudio in a fresh interpreter (a failed import poisons this one)."""
    result = subprocess.run(
        [sys.executable, "-c", "import torchaudio"], capture_output=True, text=True, timeout=300
    )
    last = (result.stderr.strip().splitlines() or [""])[-1]
    return result.returncode == 0, last


def disable_torchaudio_extension() -> list[Path]:
    lib = torchaudio_lib_dir()
    if lib is None or not lib.is_dir():
        return []
    moved = []
    for library in sorted(lib.glob("*.so")):
        target = library.with_name(library.name + DISABLED_SUFFIX)
        library.rename(target)
        moved.append(target)
    return moved


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m metric.environment", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fix", action="store_true", help="disable torchaudio's extension if it cannot load")
    args = parser.parse_args(argv)
    if torchaudio_lib_dir() is None:
        print("torchaudio: not installed (the plugins for SpeechBrain and Asteroid need it)")
        return 1
    ok, error = torchaudio_imports()
    if ok:
        print("torchaudio: imports fine")
        return 0
    print(f"torchaudio: import fails ({error})")
    if not args.fix:
        print("run `python -m metric.environment --fix` to disable its compiled extension")
        return 1
    moved = disable_torchaudio_extension()
    ok, error = torchaudio_imports()
    print(f"torchaudio: disabled {len(moved)} compiled libraries; import now {'works' if ok else 'still fails: ' + error}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
