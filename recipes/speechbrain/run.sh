#!/usr/bin/env bash
# Spectral-mask enhancement with SpeechBrain: baseline.yaml vs cdpam.yaml (+ cdpam_plugins.CDPAMLoss).
#
#   bash recipes/speechbrain/run.sh                                        # toy corpus, CPU budget
#   bash recipes/speechbrain/run.sh --corpus valentini --data-folder /corpora/valentini \
#        -- --number_of_epochs=50 --device=cuda:0                         # extra train.py options after --
#   bash recipes/speechbrain/run.sh --stage 3                              # only the comparison table
#
# Stages:
#   0  data preparation          -> <output>/prepared_<corpus>/{train,valid,test}.{json,csv}
#   1  train + test baseline.yaml -> <output>/baseline/<seed>/{save/,enhanced/,train_log.txt,test_*.txt}
#   2  train + test cdpam.yaml    -> <output>/cdpam/<seed>/...
#   3  comparison table (PESQ, STOI, CDPAM distance) -> <output>/comparison/comparison.{md,json}
# Rerunning a training stage continues from its last checkpoint (a finished run only re-tests).
set -euo pipefail
invoked_from=$PWD
cd "$(dirname "$0")"

stage=0
stop_stage=3
corpus=toy
data_folder=""
output=""          # default: results/ beside run.sh
seed=1234
python=${PYTHON:-python}
overrides=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --corpus) corpus=$2; shift 2 ;;
    --data-folder) data_folder=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --) shift; overrides=("$@"); break ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$corpus" in
  toy) ;;
  valentini)
    if [[ -z "$data_folder" ]]; then
      echo "run.sh: --corpus valentini needs --data-folder (the folder holding clean_trainset_28spk_wav/ etc.)" >&2
      exit 2
    fi ;;
  *) echo "run.sh: --corpus must be toy or valentini" >&2; exit 2 ;;
esac

absolute() { if [[ $1 == /* ]]; then echo "$1"; else echo "$invoked_from/$1"; fi; }
if [[ -z "$output" ]]; then output=$PWD/results; else output=$(absolute "$output"); fi
if [[ -n "$data_folder" ]]; then data_folder=$(absolute "$data_folder"); fi

prepared=$output/prepared_$corpus
common=(--corpus="$corpus" --prepared_folder="$prepared" --seed="$seed" --noprogressbar)
if [[ -n "$data_folder" ]]; then common+=(--data_folder="$data_folder"); fi

run_stage() {  # $1 = stage number, $2 = title, rest = command
  local number=$1 title=$2; shift 2
  if [[ $stage -le $number && $number -le $stop_stage ]]; then
    echo "== stage $number: $title =="
    local start=$SECONDS
    "$@"
    echo "== stage $number done in $((SECONDS - start)) s =="
  fi
}

prepare_args=(--corpus "$corpus" --save_folder "$prepared")
if [[ -n "$data_folder" ]]; then prepare_args+=(--data_folder "$data_folder"); fi
run_stage 0 "data preparation ($corpus)" "$python" prepare_data.py "${prepare_args[@]}"
for variant in baseline cdpam; do
  number=1; [[ $variant == cdpam ]] && number=2
  run_stage $number "train + test hparams/$variant.yaml" \
    "$python" train.py "hparams/$variant.yaml" "${common[@]}" --output_folder="$output/$variant/$seed" \
    ${overrides[@]+"${overrides[@]}"}
done
run_stage 3 "comparison on the $corpus test set" \
  "$python" compare.py --test_annotation "$prepared/test.json" \
  --system "baseline=$output/baseline/$seed/enhanced" --system "cdpam=$output/cdpam/$seed/enhanced" \
  --output_folder "$output/comparison"
echo "total: $SECONDS s wall; CPU time (user, system) of this script, then of the stages:"
times
