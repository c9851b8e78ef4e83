#!/usr/bin/env bash
# MelGAN and MelGAN+CDPAM (Manocha et al., ICASSP 2021, §4.3).
#
#   bash recipes/melgan/run.sh                 # all stages on the embedded toy corpus (short CPU budget)
#   bash recipes/melgan/run.sh --data ljspeech --data-root /data/LJSpeech-1.1 --size paper
#   bash recipes/melgan/run.sh --data vctk --data-root /data/VCTK-Corpus-0.92 --size paper
#   bash recipes/melgan/run.sh --stage 3 --stop-stage 3      # only the evaluation
#   bash recipes/melgan/run.sh --nproc 2 ...                 # training stages under torchrun (DDP: GPUs or CPU gloo)
#   bash recipes/melgan/run.sh -- train.max_steps=100       # extra Hydra overrides for stages 1-2
#
# Stages:
#   0  data preparation: train/valid/test manifests in data/<data>/
#   1  MelGAN                      -> exp/<data>/melgan/{generator.pt,checkpoints/last.pt,tensorboard/}
#   2  MelGAN+CDPAM                -> exp/<data>/melgan_cdpam/...
#   3  evaluation on the test split -> exp/<data>/evaluation/{results.md,results.json,audio/,spectrograms.png}
# Re-running a training stage resumes from its last checkpoint.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=3
data=toy
data_root=""
size=""              # toy | paper (model size and training budget); default: toy for the toy corpus, paper otherwise
nproc=0              # >0: run training with torchrun --nproc_per_node $nproc (one process per GPU, or gloo on CPU)
max_utterances=""
max_seconds=""
python=${PYTHON:-python}
overrides=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --data-root) data_root=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --nproc) nproc=$2; shift 2 ;;
    --max-utterances) max_utterances=$2; shift 2 ;;
    --max-seconds) max_seconds=$2; shift 2 ;;
    --) shift; overrides=("$@"); break ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

case "$data" in
  toy) ;;
  ljspeech|vctk)
    if [[ $stage -le 0 && 0 -le $stop_stage && -z "$data_root" ]]; then
      echo "run.sh: --data $data needs --data-root (the corpus folder in its published layout)" >&2; exit 2
    fi ;;
  *) echo "run.sh: --data must be toy, ljspeech or vctk" >&2; exit 2 ;;
esac
if [[ -z "$size" ]]; then
  if [[ $data == toy ]]; then size=toy; else size=paper; fi
fi
if [[ $data == toy ]]; then
  # Toy budget: 4 x 3 s of held-out audio (CDPAM scoring costs ~1 CPU-s per second of audio and pass).
  max_utterances=${max_utterances:-4}
  max_seconds=${max_seconds:-3}
fi

manifests=data/$data
exp=exp/$data

train() {  # $1 = variant
  local launcher=("$python")
  if [[ $nproc -gt 0 ]]; then launcher=(torchrun --standalone --nproc_per_node "$nproc"); fi
  "${launcher[@]}" train.py data="$data" model="$size" train="$size" variant="$1" \
    exp_dir="$exp/$1" ${overrides[@]+"${overrides[@]}"}
}

if [[ $stage -le 0 && 0 -le $stop_stage ]]; then
  echo "== stage 0: data preparation ($data) =="
  if [[ $data == toy ]]; then
    "$python" prepare_data.py toy --out-dir "$manifests"
  else
    "$python" prepare_data.py "$data" --root "$data_root" --out-dir "$manifests"
  fi
fi

if [[ $stage -le 1 && 1 -le $stop_stage ]]; then
  echo "== stage 1: MelGAN =="
  train melgan
fi

if [[ $stage -le 2 && 2 -le $stop_stage ]]; then
  echo "== stage 2: MelGAN+CDPAM =="
  train melgan_cdpam
fi

if [[ $stage -le 3 && 3 -le $stop_stage ]]; then
  echo "== stage 3: evaluation =="
  extra=()
  if [[ -n "$max_utterances" ]]; then extra+=(--max-utterances "$max_utterances"); fi
  if [[ -n "$max_seconds" ]]; then extra+=(--max-seconds "$max_seconds"); fi
  "$python" evaluate.py --manifest "$manifests/test.jsonl" \
    --model melgan="$exp/melgan/generator.pt" \
    --model melgan_cdpam="$exp/melgan_cdpam/generator.pt" \
    --out-dir "$exp/evaluation" ${extra[@]+"${extra[@]}"}
fi
