#!/usr/bin/env bash
# Spectral-mask enhancement with SpeechBrain: baseline.yaml vs cdpam.yaml (+ cdpam_plugins.CDPAMLoss).
#
#   bash recipes/speechbrain/run.sh                                       # toy corpus, CPU budget
#   bash recipes/speechbrain/run.sh data=valentini path=/corpora/valentini number_of_epochs=50 device=cuda:0
#   bash recipes/speechbrain/run.sh --stage 3                             # only the comparison table
#
# Stages:
#   0  data preparation          -> <output>/prepared_<data>/{train,valid,test}.{json,csv}
#   1  train + test baseline.yaml -> <output>/baseline/<seed>/{save/,enhanced/,train_log.txt,test_*.txt}
#   2  train + test cdpam.yaml    -> <output>/cdpam/<seed>/...
#   3  comparison table (PESQ, STOI, CDPAM distance) -> <output>/comparison/comparison.{md,json}
# Options: --stage N, --stop-stage M, data=toy|valentini, path=DIR (Valentini), output=DIR (default:
# results/ beside run.sh), seed=N, threads=N (torch and BLAS threads of every stage; default 1,
# fixed so that reruns match; 2 is faster on a 2-core machine only while nothing else runs, see
# recipes/README.md; 0: the libraries' defaults, one per core); any other key=value is passed to both train.py runs as --key=value
# (a SpeechBrain hparams override, e.g. number_of_epochs=20 batch_size=8 device=cuda:0).
# Rerunning a training stage continues from its last checkpoint (a finished run only re-tests).
set -euo pipefail
invoked_from=$PWD

stage=0
stop_stage=3
data=toy
path=""
output=""
seed=1234
threads=1
recipe_options=(data path output seed threads)
source "$(dirname "$0")/../stages.sh"
parse_arguments "$@"
case "$data" in
  toy) ;;
  valentini)
    if [[ -z "$path" ]]; then
      echo "run.sh: data=valentini needs path=/where/the/corpus/is (the folder holding clean_trainset_28spk_wav/ etc.)" >&2
      exit 2
    fi ;;
  *) echo "run.sh: data must be toy or valentini (got '$data')" >&2; exit 2 ;;
esac

cd "$(dirname "$0")"
PYTHON="${PYTHON:-python}"
absolute() { if [[ $1 == /* ]]; then echo "$1"; else echo "$invoked_from/$1"; fi; }
if [[ -z "$output" ]]; then output=$PWD/results; else output=$(absolute "$output"); fi
if [[ -n "$path" ]]; then path=$(absolute "$path"); fi

prepared=$output/prepared_$data
# torch reads OMP_NUM_THREADS when it starts: one fixed count, since a different one gives different numbers
if [[ "$threads" != 0 ]]; then export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"; fi
overrides=(${overrides[@]+"${overrides[@]/#/--}"})  # SpeechBrain's own override syntax: --key=value
common=(--corpus="$data" --prepared_folder="$prepared" --seed="$seed" --noprogressbar)
if [[ -n "$path" ]]; then common+=(--data_folder="$path"); fi


prepare_args=(--corpus "$data" --save_folder "$prepared")
if [[ -n "$path" ]]; then prepare_args+=(--data_folder "$path"); fi
run_stage 0 "data preparation ($data)" "$PYTHON" prepare_data.py "${prepare_args[@]}"
run_stage 1 "train + test hparams/baseline.yaml" "$PYTHON" train.py hparams/baseline.yaml "${common[@]}" \
  --output_folder="$output/baseline/$seed" ${overrides[@]+"${overrides[@]}"}
run_stage 2 "train + test hparams/cdpam.yaml" "$PYTHON" train.py hparams/cdpam.yaml "${common[@]}" \
  --output_folder="$output/cdpam/$seed" ${overrides[@]+"${overrides[@]}"}
run_stage 3 "comparison on the $data test set" "$PYTHON" evaluate.py --test_annotation "$prepared/test.json" \
  --system "baseline=$output/baseline/$seed/enhanced" --system "cdpam=$output/cdpam/$seed/enhanced" \
  --output_folder "$output/comparison"
echo "total: $SECONDS s wall; CPU time (user, system) of this script, then of the stages:"
times
