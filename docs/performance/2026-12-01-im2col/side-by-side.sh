#!/bin/bash
# Side by side in one session: the release binaries of two commits, interleaved, then PyTorch.
# BIN holds before/ (commit b31acee) and after/ (the im2col commit), each with gloro and
# ssl-dynamics. Run from the workspace root on an otherwise idle machine.
set -u
BIN=${BIN:-bins}
OUT=${OUT:-bench-run}
PY=${REFBENCH_PYTHON:-$HOME/refbench/bin/python}
mkdir -p "$OUT"
for rep in 1 2 3; do
  for v in before after; do
    "$BIN/$v/gloro" bench --steps 20 --warmup 3 --reps 1 >> "$OUT/$v-gloro.jsonl"
    "$BIN/$v/ssl-dynamics" bench --steps 6 --warmup 2 >> "$OUT/$v-ssl.jsonl"
  done
done
"$PY" ../shared/bench/torch_ref.py gloro-2c2f gloro-6c2f --steps 20 --warmup 3 > "$OUT/torch.jsonl"
"$PY" ../shared/bench/torch_ref.py byol-resnet18 --steps 6 --warmup 2 >> "$OUT/torch.jsonl"
