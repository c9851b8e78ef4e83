#!/usr/bin/env bash
# Installs cdpam-plugins from this checkout (editable) into the active Python 3.11 environment,
# with the exact versions the project is developed and tested with (constraints.txt).
#   bash install.sh          # the package: scoring, CDPAMLoss, CDPAMMetric, `cdpam score`
#   bash install.sh --dev    # every extra (SpeechBrain, Asteroid, training, evaluation, recipes)
#                            # and the test tools: what `python -m pytest` needs
# Users who only want the package run `pip install .` (or `pip install '.[eval]'`, …) in their
# own environment instead; pyproject.toml takes version ranges, not these pins.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python}
target="."
if [[ "${1:-}" == "--dev" ]]; then target=".[dev]"; fi
"$PYTHON" -m pip install --quiet --upgrade "pip>=23"
# constraints.txt pins torch to the 2.13.0 CPU wheel (torch==2.13.0+cpu).
"$PYTHON" -m pip install --quiet --constraint constraints.txt -e "$target"
if [[ "$target" == ".[dev]" ]]; then
  # Development environment only: PyPI's torchaudio (pulled in by SpeechBrain) is built for a
  # CUDA torch and cannot load its compiled extension beside the CPU torch pinned here; the
  # script explains why and disables that extension in this environment when it fails to load.
  "$PYTHON" scripts/dev_torchaudio_cpu.py --fix
fi
