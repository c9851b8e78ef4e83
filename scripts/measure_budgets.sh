#!/usr/bin/env bash
# Measures every duration the READMEs and docs quote, as a newcomer meets them: a fresh clone of
# this checkout's HEAD, the README's install commands, then each thing with its defaults as
# shipped, wall-clock. Writes a dated Markdown table (and the raw logs) to --out.
#
#   bash scripts/measure_budgets.sh                       # everything below, recipes once
#   bash scripts/measure_budgets.sh --runs 2              # each recipe twice: also the run-to-run spread of its table
#   bash scripts/measure_budgets.sh --only install,score,help   # a subset (names in the list below)
#   bash scripts/measure_budgets.sh --cold-pip            # without pip's cache (downloads everything again)
#
# What is timed (name: command, run from the clone's root unless said otherwise):
#   install      bash install.sh            (in a fresh venv of its own: the core package)
#   score        cdpam score --demo         (in the core venv)
#   help         python benchmarks/cli_startup.py  (in the core venv; its own table, appended)
#   install-dev  bash install.sh --dev      (in the clone's .venv; run whenever an item below is asked for)
#   suite        python -m pytest           (the default suite)
#   evaluate     cdpam evaluate all
#   demucs       bash recipes/demucs/run.sh        (each stage's time from run.sh's own lines)
#   melgan       bash recipes/melgan/run.sh
#   speechbrain  bash recipes/speechbrain/run.sh
#   train-toy    the three toy_fast commands of docs/training.md, (a) -> (b) -> (c)
#
# The figures mean something only on a quiet machine: the load average before and after each
# item is in the table, and the script warns when the machine is busy before it starts.
# With --runs 2 or more, each recipe's result tables of the runs are compared byte for byte and
# the table says whether they were identical (the recipes' defaults are meant to be).
set -euo pipefail

source_repo="$(cd "$(dirname "$0")/.." && pwd)"
out="$source_repo/budgets"
runs=1
only=""
cold_pip=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --only) only=",$2,"; shift 2 ;;
    --cold-pip) cold_pip=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "measure_budgets.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

wanted() { [[ -z "$only" || "$only" == *",$1,"* ]]; }
wanted_any() { local name; for name in "$@"; do wanted "$name" && return 0; done; return 1; }
load() { cut -d' ' -f1 /proc/loadavg; }

date_tag=$(date +%Y-%m-%d)
mkdir -p "$out"
out=$(cd "$out" && pwd)
logs="$out/budgets-$date_tag-logs"
table="$out/budgets-$date_tag.md"
mkdir -p "$logs"
work=$(mktemp -d /tmp/cdpam-budgets.XXXXXX)
clone="$work/cdpam-plugins"

cores=$(nproc)
if awk -v l="$(load)" -v c="$cores" 'BEGIN { exit !(l > c / 2) }'; then
  echo "measure_budgets.sh: load average $(load) on $cores cores: the machine is busy, the figures will be too high" >&2
fi
if [[ $cold_pip -eq 1 ]]; then export PIP_NO_CACHE_DIR=1; fi

git clone --quiet --no-hardlinks "$source_repo" "$clone"
commit=$(git -C "$clone" rev-parse --short HEAD)
{
  echo "# Budgets measured $date_tag"
  echo
  echo "Fresh clone of \`$commit\`; $cores cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs));"
  echo "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM; python $(python3 -c 'import platform; print(platform.python_version())');"
  echo "pip cache: $([[ $cold_pip -eq 1 ]] && echo 'off (everything downloaded)' || echo 'as found (warm if this machine installed before)');"
  echo "defaults as shipped (no threads= or workers= settings). Wall-clock seconds; load = 1-min load average."
  echo
  echo "| item | command | run | wall s | wall min | load before | load after | exit |"
  echo "|---|---|---|---|---|---|---|---|"
} > "$table"

# time_item NAME RUN DIR COMMAND...: run COMMAND in DIR, log it, add a table row; the exit code is kept.
time_item() {
  local name="$1" run="$2" dir="$3"; shift 3
  local log="$logs/$name-run$run.log" before after started status
  before=$(load); started=$(date +%s.%N)
  set +e
  (cd "$dir" && "$@") > "$log" 2>&1
  status=$?
  set -e
  local seconds
  seconds=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
  after=$(load)
  printf '| %s | `%s` | %s | %s | %.1f | %s | %s | %s |\n' "$name" "$*" "$run" "$seconds" \
    "$(awk -v s="$seconds" 'BEGIN { print s / 60 }')" "$before" "$after" "$status" >> "$table"
  # the recipes' run.sh print "=== stage N: NAME ===" and "=== stage N done in S s ==="
  awk -v item="$name" -v run="$run" '
    /^=== stage [0-9]+: / { n = $3; sub(":", "", n); title = $0; sub(/^=== stage [0-9]+: /, "", title); sub(/ ===$/, "", title); names[n] = title }
    /^=== stage [0-9]+ done in / { n = $3; printf "| %s, stage %s (%s) | | %s | %s | %.1f | | | |\n", item, n, names[n], run, $6, $6 / 60 }
  ' "$log" >> "$table"
  echo "$name (run $run): ${seconds} s, exit $status" >&2
  return 0
}

if wanted_any install score help; then
  python3 -m venv "$work/core-venv"
  time_item install 1 "$clone" env PYTHON="$work/core-venv/bin/python" bash install.sh
  wanted score && time_item score 1 "$clone" "$work/core-venv/bin/cdpam" score --demo
  if wanted help; then
    "$work/core-venv/bin/python" "$clone/benchmarks/cli_startup.py" > "$logs/help.log" 2>&1 || true
  fi
fi
if ! wanted_any install-dev suite evaluate demucs melgan speechbrain train-toy; then
  only_cheap=1
else
  only_cheap=0
  python3 -m venv "$clone/.venv"
  export PATH="$clone/.venv/bin:$PATH" VIRTUAL_ENV="$clone/.venv"
  time_item install-dev 1 "$clone" bash install.sh --dev  # everything below needs the development environment
fi
[[ $only_cheap -eq 1 ]] || ! wanted suite || time_item suite 1 "$clone" python -m pytest -q
[[ $only_cheap -eq 1 ]] || ! wanted evaluate || time_item evaluate 1 "$clone" cdpam evaluate all --out "$work/evaluation"

# the tables each recipe's default run ends with (paths in the recipe folder)
declare -A recipe_tables=(
  [demucs]="exp/toy/eval/table.md exp/toy/eval/results.json"
  [melgan]="exp/toy/evaluation/results.md exp/toy/evaluation/results.json"
  [speechbrain]="results/comparison/comparison.md results/comparison/comparison.json"
)
for recipe in demucs melgan speechbrain; do
  [[ $only_cheap -eq 1 ]] || ! wanted "$recipe" && continue
  for run in $(seq 1 "$runs"); do
    rm -rf "$clone/recipes/$recipe/exp" "$clone/recipes/$recipe/results" "$clone/recipes/$recipe/data"
    time_item "$recipe" "$run" "$clone" bash "recipes/$recipe/run.sh"
    mkdir -p "$logs/$recipe-run$run"
    for file in ${recipe_tables[$recipe]}; do
      if [[ -f "$clone/recipes/$recipe/$file" ]]; then cp "$clone/recipes/$recipe/$file" "$logs/$recipe-run$run/"; fi
    done
  done
  if [[ $runs -ge 2 ]]; then  # the run-to-run comparison (docs/results.md)
    for run in $(seq 2 "$runs"); do
      if diff -r "$logs/$recipe-run1" "$logs/$recipe-run$run" > "$logs/$recipe-run1-vs-run$run.diff"; then
        verdict="identical"
      else
        verdict="DIFFERENT (see $recipe-run1-vs-run$run.diff)"
      fi
      echo "| $recipe, tables of run 1 vs run $run | | | | | | | $verdict |" >> "$table"
    done
  fi
done

if [[ $only_cheap -eq 0 ]] && wanted train-toy; then
  time_item "train-toy-a" 1 "$clone" cdpam train stage=contrastive data=toy preset=toy_fast trainer.max_epochs=10 output_dir="$work/runs/toy/a"
  time_item "train-toy-b" 1 "$clone" cdpam train stage=jnd data=toy preset=toy_fast trainer.max_epochs=5 output_dir="$work/runs/toy/b" \
    stage.init_from="$work/runs/toy/a/cdpam_contrastive.pt"
  time_item "train-toy-c" 1 "$clone" cdpam train stage=triplet data=toy preset=toy_fast trainer.max_epochs=5 output_dir="$work/runs/toy/c" \
    stage.init_from="$work/runs/toy/b/cdpam_jnd.pt"
fi

if [[ -f "$logs/help.log" ]]; then
  { echo; echo "\`cdpam ... --help\` (benchmarks/cli_startup.py):"; echo; echo '```'; cat "$logs/help.log"; echo '```'; } >> "$table"
fi
echo "table: $table   logs: $logs   clone: $clone (remove when done)" >&2
