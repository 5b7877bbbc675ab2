#!/bin/bash
# The direct micro-kernel's choices side by side, in one session: each binary's `bench`
# subcommand under every REPRO_DIRECT_CONV value in VALUES (default "off on"; "avx2" forces the
# AVX2 kernel on an AVX-512 CPU), interleaved three times, then PyTorch and JAX. BIN holds the
# release binaries gloro, ssl-dynamics and pes of one build; OUT receives the JSON lines. Run
# from the workspace root on an otherwise idle machine.
set -u
BIN=${BIN:-target/release}
OUT=${OUT:-bench-run}
PY=${REFBENCH_PYTHON:-$HOME/refbench/bin/python}
VALUES=${VALUES:-off on}
mkdir -p "$OUT"
for rep in 1 2 3; do
  for v in $VALUES; do
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
