#!/bin/bash
# Side by side in one session: the release binaries of two commits (gloro and ssl-dynamics),
# interleaved three times, then PyTorch. BIN holds before/ and after/, each with both
# binaries; OUT receives the JSON lines. BYOL runs SSL_STEPS steps after SSL_WARMUP (ours and
# PyTorch's alike), the GloRo workloads 20 after 3. Run from the workspace root on an
# otherwise idle machine.
set -u
BIN=${BIN:-bins}
OUT=${OUT:-bench-run}
PY=${REFBENCH_PYTHON:-$HOME/refbench/bin/python}
SSL_STEPS=${SSL_STEPS:-20}
SSL_WARMUP=${SSL_WARMUP:-3}
mkdir -p "$OUT"
for rep in 1 2 3; do
  for v in before after; do
    "$BIN/$v/gloro" bench --steps 20 --warmup 3 --reps 1 >> "$OUT/$v-gloro.jsonl"
    "$BIN/$v/ssl-dynamics" bench --steps "$SSL_STEPS" --warmup "$SSL_WARMUP" >> "$OUT/$v-ssl.jsonl"
  done
done
"$PY" ../shared/bench/torch_ref.py gloro-2c2f gloro-6c2f --steps 20 --warmup 3 > "$OUT/torch.jsonl"
"$PY" ../shared/bench/torch_ref.py byol-resnet18 --steps "$SSL_STEPS" --warmup "$SSL_WARMUP" >> "$OUT/torch.jsonl"
