"""Development setup only: let torchaudio import beside the CPU build of torch.

The development environment (constraints.txt) pins torch to the 2.13.0 CPU wheel. Every
torchaudio wheel on PyPI is built against a CUDA torch: its compiled extension links
libc10_cuda.so, libtorch_cuda.so and libcudart, which a CPU torch does not have, and torchaudio
loads it on import, so ``import torchaudio`` fails — and with it ``import speechbrain``, which the
tests and the SpeechBrain recipe need. (Asteroid imports without torchaudio.) torchaudio's
pure-Python parts, which are all this project uses (the MelGAN recipe's mel filterbank), work
without the extension, and torchaudio skips it when its files are absent. So this script, run by
``bash install.sh --dev`` in the project's own virtual environment, renames the extension's
libraries out of the loader's way, and only when they really fail to load.

cdpam-plugins itself never touches another package's files and does not need torchaudio; on a
normal machine, where torch and torchaudio come as a matching pair, none of this is needed.

    python scripts/dev_torchaudio_cpu.py          # report
    python scripts/dev_torchaudio_cpu.py --fix    # repair; silent when nothing needs doing
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

DISABLED_SUFFIX = ".disabled-for-cpu-torch"


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
    last = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}, nothing on stderr"])[-1]
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fix", action="store_true", help="disable torchaudio's extension if it cannot load")
    args = parser.parse_args(argv)
    if torchaudio_lib_dir() is None:
        if not args.fix:
            print("torchaudio: not installed (nothing to do)")
        return 0
    ok, error = torchaudio_imports()
    if ok:
        if not args.fix:  # as run by install.sh: a working torchaudio needs no word
            print("torchaudio: imports fine")
        return 0
    if not args.fix:
        print(f"torchaudio: import fails ({error})")
        print("run `python scripts/dev_torchaudio_cpu.py --fix` to disable its compiled extension")
        return 1
    moved = disable_torchaudio_extension()
    ok, after = torchaudio_imports()
    if ok:
        # expected with the CPU torch of constraints.txt: say what was done, calmly, in one line
        print(f"torchaudio: set up for the CPU build of torch (its CUDA-built extension, {len(moved)} files, "
              "is disabled in this environment; see scripts/dev_torchaudio_cpu.py)")
        return 0
    print(f"torchaudio: import fails ({error}); disabling its compiled extension did not help: {after}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
