#!/bin/bash
# side-by-side: before (HEAD~3 binaries), after (x86-v4 + fused momentum), v4-only pes, references
set -u
cd /work/main
OUT=/tmp/bench-run; rm -rf $OUT; mkdir -p $OUT
pkill -STOP -f "pes-bin mnist"
trap 'pkill -CONT -f "pes-bin mnist"' EXIT
PY=~/refbench/bin/python
date > $OUT/start
for rep in 1 2 3; do
  for v in before after; do
    /tmp/$v/gloro bench --steps 20 --warmup 3 --reps 1 >> $OUT/$v-gloro.jsonl 2>>$OUT/err.log
    /tmp/$v/ssl-dynamics bench --steps 20 --warmup 3 >> $OUT/$v-ssl.jsonl 2>>$OUT/err.log
    /tmp/$v/pes bench --steps 3 --warmup 1 >> $OUT/$v-pes.jsonl 2>>$OUT/err.log
  done
  /tmp/v4only/pes bench --steps 3 --warmup 1 >> $OUT/v4only-pes.jsonl 2>>$OUT/err.log
done
$PY ../shared/bench/torch_ref.py gloro-2c2f gloro-6c2f byol-resnet18 --steps 20 --warmup 3 > $OUT/torch.jsonl 2>>$OUT/err.log
$PY ../shared/bench/jax_ref.py --steps 3 --warmup 1 > $OUT/jax.jsonl 2>>$OUT/err.log
date > $OUT/end
