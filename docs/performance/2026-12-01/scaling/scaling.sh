#!/bin/bash
# Throughput and peak memory against threads, batch size and particles (after/ binaries, see
# ../side-by-side.sh). Run from the workspace root on an otherwise idle machine.
set -u
B=${B:-bins/after}
OUT=${OUT:-scaling-run}
mkdir -p "$OUT"
for t in 1 2; do
  # each line wrapped as {"threads_set": t, "line": <bench line>}
  wrap() { sed "s/^/{\"threads_set\":$t,\"line\":/; s/\$/}/"; }
  RAYON_NUM_THREADS=$t "$B/gloro" bench gloro-2c2f --steps 20 --warmup 3 --reps 3 | wrap >> "$OUT/threads.jsonl"
  RAYON_NUM_THREADS=$t "$B/gloro" bench gloro-6c2f --steps 5 --warmup 1 --reps 1 | wrap >> "$OUT/threads.jsonl"
  RAYON_NUM_THREADS=$t "$B/ssl-dynamics" bench --steps 5 --warmup 1 | wrap >> "$OUT/threads.jsonl"
  RAYON_NUM_THREADS=$t "$B/pes" bench --steps 3 --warmup 1 | wrap >> "$OUT/threads.jsonl"
done
for b in 64 128 256 512 1024; do
  "$B/gloro" bench gloro-2c2f --batch $b --steps 20 --warmup 3 --reps 3 >> "$OUT/gloro-batch.jsonl"
done
for b in 64 256 1024; do
  "$B/gloro" bench gloro-6c2f --batch $b --steps 3 --warmup 1 --reps 1 >> "$OUT/gloro6-batch.jsonl"
done
for b in 16 32 64 128; do
  "$B/ssl-dynamics" bench --batch $b --steps 5 --warmup 1 >> "$OUT/byol-batch.jsonl"
done
for n in 10 100 1000; do
  "$B/pes" bench --particles $n --steps 3 --warmup 1 >> "$OUT/pes-particles.jsonl"
done
