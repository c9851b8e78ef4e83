#!/usr/bin/env bash
# Builds the wheel and checks it in fresh virtual environments across Python and dependency
# versions (not part of the default CI; takes 10-30 minutes and downloads several GB of torch):
#   bash scripts/check_compat.sh            # every environment below
#   bash scripts/check_compat.sh a c        # some of them
# Environments (results and the table: docs/compatibility.md):
#   a  Python 3.11, constraints.txt (the development versions, torch 2.13.0 CPU), [recipes]
#   b  Python 3.10, scripts/compat/oldest.txt (the lower bounds pyproject.toml claims), [recipes]
#   c  Python 3.13, the newest releases the package index serves (torch included), in two steps:
#      c1 [speechbrain,train,eval] (torchmetrics 1.x), c2 adding [asteroid] (which caps torchmetrics at 0.11)
#   d  Python 3.13, the newest torch that has a matching torchaudio release (both toolkits import
#      torchaudio, which refuses a torch built for another CUDA version), [speechbrain,asteroid]
# Each runs scripts/compat_smoke.py (parity, `cdpam score --demo`, SpeechBrain YAML loss,
# Asteroid System step, CDPAMMetric, a `cdpam train` step, `cdpam evaluate` with PESQ/STOI/plots)
# from a directory outside the repository.
# COMPAT_DIR (default /tmp/cdpam-compat) holds the venvs, deleted after each environment unless
# KEEP_VENVS=1, and results.jsonl. Exit status 1 if any environment failed.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${COMPAT_DIR:-/tmp/cdpam-compat}
GOLDEN="$REPO/tests/data/golden_public.json"
ALL_CHECKS=parity,demo,speechbrain,asteroid,metric,train,evaluate
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} PIP_DISABLE_PIP_VERSION_CHECK=1

find_python() {  # find_python 3.10 -> an interpreter of that version (PATH, then pyenv)
  local candidate
  for candidate in "python$1" "$(pyenv root 2>/dev/null)"/versions/"$1".*/bin/"python$1"; do
    if "$candidate" -c 'import sys' >/dev/null 2>&1; then echo "$candidate"; return 0; fi
  done
  echo "no Python $1 found (PATH or pyenv)" >&2
  return 1
}

fresh_venv() {  # fresh_venv NAME PYTHON_VERSION -> path of the venv's python
  local python
  python=$(find_python "$2") || return 1
  rm -rf "${OUT:?}/$1"
  "$python" -m venv "$OUT/$1" && "$OUT/$1/bin/python" -m pip install --quiet --upgrade pip >&2 &&
    echo "$OUT/$1/bin/python"
}

smoke() {  # smoke PYTHON LABEL CHECKS: the smoke set from an empty directory, its JSON record appended
  local scratch status
  scratch=$(mktemp -d)
  (cd "$scratch" && "$1" "$REPO/scripts/compat_smoke.py" --golden "$GOLDEN" --checks "$3" --label "$2") \
    | tee "$scratch/out"
  status=${PIPESTATUS[0]}
  tail -n 1 "$scratch/out" | grep '^{' >> "$RESULTS" || echo "{\"label\": \"$2\", \"results\": {\"smoke\": \"FAIL\"}}" >> "$RESULTS"
  rm -rf "$scratch"
  return "$status"
}

done_with() { [[ "${KEEP_VENVS:-0}" == 1 ]] || rm -rf "${OUT:?}/$1"; }

echo "== building the wheel"
rm -rf "$OUT/dist" "$REPO/build"  # a stale build/ would carry deleted files into the wheel
python3 -m pip wheel --quiet --no-deps -w "$OUT/dist" "$REPO" || exit 1
WHEEL=$(ls "$OUT"/dist/cdpam_plugins-*.whl)
python3 - "$WHEEL" <<'EOF' || exit 1
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
meta = zipfile.ZipFile(sys.argv[1]).read(next(n for n in names if n.endswith("METADATA"))).decode()
toy = [n for n in names if "toy_corpus" in n]
assert not toy, f"the toy corpus must stay out of the wheel: {toy[:3]}"
for needed in ("metric/assets/sample_audio/ref.wav", "metric/assets/jnd_labels/dataset_combined.txt"):
    assert needed in names, needed
print("wheel:", sys.argv[1].rsplit("/", 1)[-1], f"({len(names)} files, no toy corpus);",
      next(line for line in meta.splitlines() if line.startswith("License-Expression")))
EOF

failed=()
run_a() {
  local py
  py=$(fresh_venv py311-constraints 3.11) || return 1
  "$py" -m pip install --quiet --constraint "$REPO/constraints.txt" "$WHEEL[recipes]" || return 1
  # the development environment's torchaudio workaround (CPU torch; see that script)
  "$py" "$REPO/scripts/dev_torchaudio_cpu.py" --fix || return 1
  smoke "$py" "a: py3.11 constraints.txt" "$ALL_CHECKS"
  local status=$?
  done_with py311-constraints
  return $status
}
run_b() {
  local py
  py=$(fresh_venv py310-oldest 3.10) || return 1
  "$py" -m pip install --quiet --constraint "$REPO/scripts/compat/oldest.txt" "$WHEEL[recipes]" || return 1
  smoke "$py" "b: py3.10 oldest" "$ALL_CHECKS"
  local status=$?
  done_with py310-oldest
  return $status
}
run_c() {
  local py status=0
  py=$(fresh_venv py313-newest 3.13) || return 1
  # Newest releases: no project constraints, and none of this machine's pip configuration
  # (its global pip.conf caps torch at the releases kept on disk).
  PIP_CONFIG_FILE=/dev/null "$py" -m pip install --quiet "$WHEEL[speechbrain,train,eval]" || return 1
  smoke "$py" "c1: py3.13 newest, torchmetrics 1.x" parity,demo,speechbrain,metric,train,evaluate || status=1
  PIP_CONFIG_FILE=/dev/null "$py" -m pip install --quiet "$WHEEL[asteroid]" || return 1
  smoke "$py" "c2: py3.13 newest + asteroid (torchmetrics 0.11)" asteroid,metric || status=1
  done_with py313-newest
  return $status
}

run_d() {
  local py
  py=$(fresh_venv py313-toolkits 3.13) || return 1
  PIP_CONFIG_FILE=/dev/null "$py" -m pip install --quiet "$WHEEL[speechbrain,asteroid]" \
    "torch==$NEWEST_MATCHED_TORCH" "torchaudio==$NEWEST_MATCHED_TORCH" || return 1
  smoke "$py" "d: py3.13 torch $NEWEST_MATCHED_TORCH + torchaudio" parity,speechbrain,asteroid,metric
  local status=$?
  done_with py313-toolkits
  return $status
}
# the newest torchaudio release and the torch it was built for
NEWEST_MATCHED_TORCH=${NEWEST_MATCHED_TORCH:-2.11.0}

for env in "${@:-a b c d}"; do
  for name in $env; do
    echo "== environment $name"
    "run_$name" || failed+=("$name")
  done
done

echo "== results ($RESULTS)"
python3 - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
keys = ["python", "torch", "torchaudio", "torchmetrics", "numpy", "speechbrain", "asteroid", "pytorch_lightning"]
print("| environment | " + " | ".join(keys) + " | results |")
print("|---" * (len(keys) + 2) + "|")
for row in rows:
    v = row.get("versions", {})
    results = ", ".join(f"{k} {r}" for k, r in row["results"].items())
    print(f"| {row['label']} | " + " | ".join(v.get(k, "?") for k in keys) + f" | {results} |")
EOF
if ((${#failed[@]})); then echo "failed: ${failed[*]}"; exit 1; fi
echo "all environments passed"
