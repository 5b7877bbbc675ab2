#!/bin/bash
# Side by side in one session: the binaries of two commits, interleaved, then the references.
# BIN holds before/ (commit 55e1ee2), after/ (this page's commit) and v4only/ (pes with x86-v4
# but without the fused momentum step), each with the release binaries gloro, ssl-dynamics, pes.
# Run from the workspace root on an otherwise idle machine.
set -u
BIN=${BIN:-bins}
OUT=${OUT:-bench-run}
PY=${REFBENCH_PYTHON:-$HOME/refbench/bin/python}
mkdir -p "$OUT"
for rep in 1 2 3; do
  for v in before after; do
    "$BIN/$v/gloro" bench --steps 20 --warmup 3 --reps 1 >> "$OUT/$v-gloro.jsonl"
    "$BIN/$v/ssl-dynamics" bench --steps 20 --warmup 3 >> "$OUT/$v-ssl.jsonl"
    "$BIN/$v/pes" bench --steps 3 --warmup 1 >> "$OUT/$v-pes.jsonl"
  done
  "$BIN/v4only/pes" bench --steps 3 --warmup 1 >> "$OUT/v4only-pes.jsonl"
done
"$PY" ../shared/bench/torch_ref.py gloro-2c2f gloro-6c2f byol-resnet18 --steps 20 --warmup 3 > "$OUT/torch.jsonl"
"$PY" ../shared/bench/jax_ref.py --steps 3 --warmup 1 > "$OUT/jax.jsonl"
