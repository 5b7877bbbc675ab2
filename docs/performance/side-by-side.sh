#!/bin/bash
# Side by side in one session: the release binaries of two commits (gloro and ssl-dynamics),
# interleaved REPS times (default 3), then PyTorch. BIN holds before/ and after/, each with
# both binaries; OUT receives the JSON lines. PARTS picks the crates (default "gloro ssl").
# With REF_EACH_REP=1 PyTorch runs inside every repetition as well, after the two binaries,
# so that each ratio compares runs minutes apart on a machine whose speed drifts. With
# ALTERNATE=1 the even repetitions run after/ before before/ (two builds of the same code
# differed by 7 % on average in the fixed order on one machine). BYOL runs
# SSL_STEPS steps after SSL_WARMUP (ours and PyTorch's alike), the GloRo workloads 20 after 3.
# Run from the workspace root on an otherwise idle machine.
set -u
BIN=${BIN:-bins}
OUT=${OUT:-bench-run}
PY=${REFBENCH_PYTHON:-$HOME/refbench/bin/python}
SSL_STEPS=${SSL_STEPS:-20}
SSL_WARMUP=${SSL_WARMUP:-3}
PARTS=${PARTS:-gloro ssl}
REPS=${REPS:-3}
REF_EACH_REP=${REF_EACH_REP:-0}
ALTERNATE=${ALTERNATE:-0}
mkdir -p "$OUT"
reference() {
  for part in $PARTS; do
    case $part in
      gloro) "$PY" ../shared/bench/torch_ref.py gloro-2c2f gloro-6c2f --steps 20 --warmup 3 >> "$OUT/torch.jsonl" ;;
      ssl) "$PY" ../shared/bench/torch_ref.py byol-resnet18 --steps "$SSL_STEPS" --warmup "$SSL_WARMUP" >> "$OUT/torch.jsonl" ;;
    esac
  done
}
for rep in $(seq "$REPS"); do
  order="before after"
  if [ "$ALTERNATE" = 1 ] && [ $((rep % 2)) = 0 ]; then order="after before"; fi
  for v in $order; do
    for part in $PARTS; do
      case $part in
        gloro) "$BIN/$v/gloro" bench --steps 20 --warmup 3 --reps 1 >> "$OUT/$v-gloro.jsonl" ;;
        ssl) "$BIN/$v/ssl-dynamics" bench --steps "$SSL_STEPS" --warmup "$SSL_WARMUP" >> "$OUT/$v-ssl.jsonl" ;;
        *) echo "side-by-side: unknown part '$part' in PARTS (expected gloro or ssl)" >&2; exit 2 ;;
      esac
    done
  done
  if [ "$REF_EACH_REP" = 1 ]; then reference; fi
done
if [ "$REF_EACH_REP" != 1 ]; then reference; fi
