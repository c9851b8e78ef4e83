"""How long ``cdpam --help`` and every ``cdpam COMMAND --help`` take, wall-clock.

Each help is run in a fresh interpreter (``python -m metric.cli ... --help``, what the
``cdpam`` console script runs), interleaved round by round with two baselines measured in the
same run: a bare interpreter start (``python -c pass``, the floor) and ``python -c "import
torch"`` (what a help that loads torch would cost at least). Prints median, min and max per
command and the median's ratio to each baseline; the target is under 2 s on the project's
2-core machine.

    python benchmarks/cli_startup.py              # 7 rounds
    python benchmarks/cli_startup.py --rounds 15
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 2.0

BASELINES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
}
COMMANDS = [[], ["score"], ["data"], ["data", "build"], ["evaluate"], ["train"]]


MISSING_EXTRA = re.compile(r"install the '(\w+)' extra")
missing_extras: dict[str, str] = {}  # command -> the extra its help asked for (a core install lacks it)


def _wall_seconds(name: str, argv: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        # A command whose extra is not installed answers its --help with the install line: that
        # answer is what a user of this installation gets, so it is timed too and marked.
        extra = MISSING_EXTRA.search(result.stderr)
        if extra is None:
            raise SystemExit(f"{' '.join(argv)} failed:\n{result.stderr}")
        missing_extras[name] = extra.group(1)
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    args = parser.parse_args(argv)

    runs = dict(BASELINES)
    for command in COMMANDS:
        runs[" ".join(["cdpam", *command, "--help"])] = [sys.executable, "-m", "metric.cli", *command, "--help"]
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, command in runs.items():  # interleaved: a noisy moment hits every entry alike
            times[name].append(_wall_seconds(name, command))

    floor = statistics.median(times["python -c pass"])
    torch_import = statistics.median(times["python -c 'import torch'"])
    print(f"{args.rounds} interleaved rounds, wall-clock seconds (python {sys.version.split()[0]})")
    print(f"{'command':<28} {'median':>7} {'min':>7} {'max':>7} {'x pass':>7} {'x torch':>8}")
    slow = []
    for name, values in times.items():
        median = statistics.median(values)
        note = f"  (answers: install the '{missing_extras[name]}' extra)" if name in missing_extras else ""
        print(f"{name:<28} {median:7.2f} {min(values):7.2f} {max(values):7.2f} {median / floor:7.1f} "
              f"{median / torch_import:8.2f}{note}")
        if name.startswith("cdpam") and median >= TARGET_SECONDS:
            slow.append(name)
    print(f"target: every help under {TARGET_SECONDS:.0f} s (median): "
          + ("met" if not slow else "MISSED by " + ", ".join(slow)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
