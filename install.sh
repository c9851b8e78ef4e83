#!/usr/bin/env bash
# Installs cdpam-plugins into the active Python environment.
#   bash install.sh          # the package and its pinned dependencies
#   bash install.sh --dev    # plus the test tools
# torch is pinned to the 2.13.0 CPU wheel; torchaudio's compiled extension,
# built against a CUDA torch, cannot load beside it and breaks `import
# torchaudio` (and so SpeechBrain and Asteroid): the last step disables it when
# it fails to load. Nothing of this project needs it.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python}
extras=""
if [[ "${1:-}" == "--dev" ]]; then extras="[dev]"; fi
"$PYTHON" -m pip install --quiet --upgrade "pip>=23"
"$PYTHON" -m pip install --quiet "torch==2.13.0"
"$PYTHON" -m pip install --quiet -e ".${extras}"
"$PYTHON" -m metric.environment --fix
