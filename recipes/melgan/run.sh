#!/usr/bin/env bash
# MelGAN and MelGAN+CDPAM (Manocha et al., ICASSP 2021, §4.3).
#
#   bash recipes/melgan/run.sh                                  # every stage on the embedded toy corpus
#   bash recipes/melgan/run.sh data=ljspeech path=/data/LJSpeech-1.1
#   bash recipes/melgan/run.sh data=vctk path=/data/VCTK-Corpus-0.92
#   bash recipes/melgan/run.sh --stage 3 --stop-stage 3         # only the evaluation
#   bash recipes/melgan/run.sh nproc=2                          # training stages under torchrun (DDP: GPUs or CPU gloo)
#   bash recipes/melgan/run.sh train.max_steps=100              # any other key=value: a Hydra override of train.py
#
# Stages:
#   0  data preparation: train/valid/test manifests in data/<data>/
#   1  MelGAN                      -> exp/<data>/melgan/{generator.pt,checkpoints/last.pt,tensorboard/}
#   2  MelGAN+CDPAM                -> exp/<data>/melgan_cdpam/...
#   3  evaluation on the test split -> exp/<data>/evaluation/{results.md,results.json,audio/,spectrograms.png}
# Options: --stage N, --stop-stage M, data=toy|ljspeech|vctk, path=DIR (real corpora),
# size=toy|paper (model and training budget; default: toy for the toy corpus, paper otherwise),
# nproc=N (torchrun processes), max_utterances=N and max_seconds=S (evaluation budget).
# Re-running a training stage resumes from its last checkpoint.
set -euo pipefail

stage=0
stop_stage=3
data=toy
path=""
size=""
nproc=0
max_utterances=""
max_seconds=""
recipe_options=(data path size nproc max_utterances max_seconds)
source "$(dirname "$0")/../stages.sh"
parse_arguments "$@"

case "$data" in
  toy) ;;
  ljspeech|vctk)
    if [[ $stage -le 0 && 0 -le $stop_stage && -z "$path" ]]; then
      echo "run.sh: data=$data needs path=/where/the/corpus/is (its published layout) for stage 0" >&2; exit 2
    fi ;;
  *) echo "run.sh: data must be toy, ljspeech or vctk (got '$data')" >&2; exit 2 ;;
esac
if [[ -z "$size" ]]; then
  if [[ $data == toy ]]; then size=toy; else size=paper; fi
fi
if [[ $data == toy ]]; then
  # Toy budget: 4 x 3 s of held-out audio (CDPAM scoring costs ~1 CPU-s per second of audio and pass).
  max_utterances=${max_utterances:-4}
  max_seconds=${max_seconds:-3}
fi

cd "$(dirname "$0")"
PYTHON="${PYTHON:-python}"
manifests="data/$data"
exp="exp/$data"


train() {  # $1 = variant
  local launcher=("$PYTHON")
  if [[ $nproc -gt 0 ]]; then launcher=(torchrun --standalone --nproc_per_node "$nproc"); fi
  "${launcher[@]}" train.py data="$data" model="$size" train="$size" variant="$1" \
    exp_dir="$exp/$1" ${overrides[@]+"${overrides[@]}"}
}

prepare_args=("$data" --out-dir "$manifests")
if [[ -n "$path" ]]; then prepare_args+=(--root "$path"); fi
eval_args=(--manifest "$manifests/test.jsonl" --model melgan="$exp/melgan/generator.pt"
  --model melgan_cdpam="$exp/melgan_cdpam/generator.pt" --out-dir "$exp/evaluation")
if [[ -n "$max_utterances" ]]; then eval_args+=(--max-utterances "$max_utterances"); fi
if [[ -n "$max_seconds" ]]; then eval_args+=(--max-seconds "$max_seconds"); fi

run_stage 0 "data preparation ($data)" "$PYTHON" prepare_data.py "${prepare_args[@]}"
run_stage 1 "MelGAN" train melgan
run_stage 2 "MelGAN+CDPAM" train melgan_cdpam
run_stage 3 "evaluation" "$PYTHON" evaluate.py "${eval_args[@]}"
