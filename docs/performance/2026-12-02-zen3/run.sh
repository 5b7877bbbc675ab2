#!/bin/bash
# The 2026-12-02 measurement on a CPU without AVX-512, in one session: each binary's `bench`
# subcommand with the direct micro-kernel turned off and on (REPRO_DIRECT_CONV), interleaved
# three times, then PyTorch and JAX. BIN holds the release binaries gloro, ssl-dynamics and
# pes of one build; OUT receives the JSON lines. Run from the workspace root on an otherwise
# idle machine.
set -u
BIN=${BIN:-target/release}
OUT=${OUT:-bench-run}
PY=${REFBENCH_PYTHON:-$HOME/refbench/bin/python}
mkdir -p "$OUT"
for rep in 1 2 3; do
  for v in off on; do
    REPRO_DIRECT_CONV=$v "$BIN/gloro" bench --steps 20 --warmup 3 --reps 1 >> "$OUT/$v-gloro.jsonl"
    REPRO_DIRECT_CONV=$v "$BIN/ssl-dynamics" bench --steps 6 --warmup 2 >> "$OUT/$v-ssl.jsonl"
  done
done
"$PY" ../shared/bench/torch_ref.py gloro-2c2f gloro-6c2f --steps 20 --warmup 3 > "$OUT/torch.jsonl"
"$PY" ../shared/bench/torch_ref.py byol-resnet18 --steps 6 --warmup 2 >> "$OUT/torch.jsonl"
"$PY" ../shared/bench/jax_ref.py --steps 3 --warmup 1 > "$OUT/jax.jsonl"
for rep in 1 2 3; do
  "$BIN/pes" bench --steps 3 --warmup 1 >> "$OUT/pes.jsonl"
done
"$PY" ../shared/bench/jax_ref.py --steps 3 --warmup 1 >> "$OUT/jax.jsonl"
