#!/usr/bin/env bash
# Does a perceptual loss help DEMUCS? Every variant of conf/loss/ (DEMUCS, +CDPAM, +CDPAM-lite,
# +PMSQE, +NegSTOI, +PESQ, Finetune-CDPAM) on the same model, data, optimiser and steps, several seeds.
#
#   bash compare.sh                                   # the toy corpus: every stage (see README.md for its cost)
#   bash compare.sh --stage 4 --stop-stage 6 steps=300
#   bash compare.sh data=valentini path=/corpora/valentini steps=200000 finetune_steps=20000 jobs=4 threads=8 \
#       trainer.accelerator=gpu
#
# Stages: 0 data preparation (toy: also the 60-pair test_large set), 1 cost per training step of
# each variant, 2 weight search (each perceptual variant at 3 weights, seed 0), 3 choice of the
# weights on the validation split, 4 training (every variant x every seed), 5 evaluation on the test
# split, 6 statistics, spectrograms and example audio (exp/<data>/compare/summary/).
# Options: --stage N, --stop-stage M, data=toy|valentini|dns, path=DIR (real corpora), model=NAME (default:
# toy; released for valentini, released_dns for dns),
# steps=N (every variant; default 500), finetune_steps=M (Finetune-CDPAM's share of the N; default
# 100), search_steps=N (default: steps), seeds="1 2 3", variants="baseline cdpam ...", jobs=N (at
# most one per core; default 2), threads=N (per job; default 1), nice=N (default 5; 19 on a shared
# machine), test_files=N (score N test files spread over the split; default all), select_files=N (the
# weight choice scores the first N validation files; default all); any other
# key=value is a Hydra override for every train.py run. Every stage resumes where it stopped.
set -euo pipefail

stage=0
stop_stage=6
data=toy
path=""
model=""
steps=500
finetune_steps=100
search_steps=""
seeds="1 2 3"
variants="baseline cdpam cdpam_lite pmsqe stoi pesq finetune"
jobs=2
threads=1
nice=5
test_files=""
select_files=""
recipe_options=(data path model steps finetune_steps search_steps seeds variants jobs threads nice test_files select_files)
source "$(dirname "$0")/../stages.sh"
parse_arguments "$@"

source "$(dirname "$0")/corpus.sh"
check_corpus_and_model
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python}"
export OMP_NUM_THREADS="$threads"
# shellcheck disable=SC2206
common=(--data "$data" --steps "$steps" --finetune-steps "$finetune_steps" --seeds $seeds --variants $variants
        --jobs "$jobs" --threads "$threads" --nice "$nice" --model "$model")
if [[ -n "$search_steps" ]]; then common+=(--search-steps "$search_steps"); fi
if [[ -n "$test_files" ]]; then common+=(--test-files "$test_files"); fi
if [[ -n "$select_files" ]]; then common+=(--select-files "$select_files"); fi
common+=(-- "${overrides[@]+"${overrides[@]}"}")
mkdir -p "exp/$data/compare"
timings="exp/$data/compare/timings.tsv"

path_args=()
if [[ -n "$path" ]]; then path_args=(--path "$path"); fi
run_stage 0 "data preparation" nice -n "$nice" "$PYTHON" prepare_data.py --data "$data" "${path_args[@]+"${path_args[@]}"}" --out-dir "data/$data"
run_stage 1 "cost per training step" "$PYTHON" compare.py cost "${common[@]}"
run_stage 2 "weight search" "$PYTHON" compare.py search "${common[@]}"
run_stage 3 "weights chosen on the validation split" "$PYTHON" compare.py select "${common[@]}"
run_stage 4 "training: every variant x every seed" "$PYTHON" compare.py train "${common[@]}"
run_stage 5 "evaluation on the test split" "$PYTHON" compare.py evaluate "${common[@]}"
run_stage 6 "statistics, spectrograms, audio" "$PYTHON" compare.py summarize "${common[@]}"

if [[ $stop_stage -ge 6 && -f "exp/$data/compare/summary/table.md" ]]; then
  echo "Table: exp/$data/compare/summary/table.md   spectrograms: exp/$data/compare/summary/spectrograms.png"
fi
