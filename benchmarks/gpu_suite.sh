#!/usr/bin/env bash
# The reproduction campaign's one prepared device script: the GPU work worth most, in order of
# value, inside 9 minutes on one H100 (a 510 s budget leaves room for the machine's start):
#   1. training throughput, Lightning against a plain loop: DCGAN-64 in fp32, then bf16 + channels_last;
#   2. f-GAN Table 4 at the paper's batch (4096), the table a CPU can least afford (0.6 s an update on
#      2 cores), as far as the rest of the budget reaches. GAN-2014 Table 1 is left to the CPU campaign.
# The reproduction stops cleanly at its slice's end (--max-time) and writes a partial table. Its run
# store lives outside OUT: only 8 files come back from a device, and these are the 8 that matter.
#
#   ZOO_COMMIT=$(git rev-parse HEAD) benchmarks/gpu_suite.sh       # on the device ($OUT is set there)
#   benchmarks/gpu_suite.sh --quick --out /tmp/suite                # CPU smoke run, tiny budgets
#
# Data: only the repository travels to the device, so put MNIST inside it first:
#   mkdir -p shared/datasets/MNIST/raw && cp ../shared/datasets/MNIST/raw/*.gz shared/datasets/MNIST/raw/
set -uo pipefail
cd "$(dirname "$0")/.."
QUICK=0
OUT_DIR=${OUT:-runs/gpu_suite}
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --out) OUT_DIR=$2; shift ;;
        *) echo "gpu_suite.sh: unknown option $1 (use --quick, --out DIR)" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$OUT_DIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" WANDB_MODE=offline ZOO_RUNS="${ZOO_RUNS:-${TMPDIR:-/tmp}/gpu_suite_runs}"
export ZOO_DATA="${ZOO_DATA:-$PWD/shared/datasets}"
PY=${PYTHON:-python3}
TOTAL=${GPU_SUITE_SECONDS:-510}
START=$(date +%s)
: > "$OUT_DIR/steps.tsv"

left() { echo $(( TOTAL - ($(date +%s) - START) )); }
hms() { printf '%02d:%02d:%02d' $(( $1 / 3600 )) $(( $1 % 3600 / 60 )) $(( $1 % 60 )); }
# step NAME SECONDS COMMAND...: run COMMAND for at most SECONDS (and never past the total), log its exit code.
step() {
    local name=$1 seconds=$2; shift 2
    [ "$seconds" -gt "$(left)" ] && seconds=$(left)
    if [ "$seconds" -le 5 ]; then printf '%s\tskipped\t0\n' "$name" >> "$OUT_DIR/steps.tsv"; return; fi
    echo "== $name: up to $seconds s" | tee -a "$OUT_DIR/gpu_suite.log"
    local began=$(date +%s)
    timeout --kill-after=20 "$seconds" "$@" >> "$OUT_DIR/gpu_suite.log" 2>&1
    printf '%s\t%s\t%s\n' "$name" "$?" "$(( $(date +%s) - began ))" >> "$OUT_DIR/steps.tsv"
}

if [ "$QUICK" = 1 ]; then
    step throughput 120 "$PY" benchmarks/train_throughput.py --quick --device cpu --out "$OUT_DIR/throughput.json"
    step fgan-table4 240 "$PY" -m zoo.cli reproduce fgan-table4 --quick --out "$OUT_DIR"
else
    step throughput-fp32 60 "$PY" benchmarks/train_throughput.py --image-size 64 --channels 3 --out "$OUT_DIR/throughput_dcgan64_fp32.json"
    step throughput-bf16 60 "$PY" benchmarks/train_throughput.py --image-size 64 --channels 3 --precision bf16-mixed --channels-last --out "$OUT_DIR/throughput_dcgan64_bf16.json"
    # --max-time leaves 40 s of the slice for scoring and writing the table.
    step fgan-table4 "$(left)" "$PY" -m zoo.cli reproduce fgan-table4 --resume --max-time "$(hms $(( $(left) - 40 )))" --out "$OUT_DIR"
fi

"$PY" - "$OUT_DIR" "$START" <<'PYTHON'
import json, sys
from pathlib import Path

import torch

from zoo.provenance import RunStart

out = Path(sys.argv[1])
run = RunStart(started_at=float(sys.argv[2]))  # the suite's start: its wall time covers every step
steps = [dict(zip(("step", "exit_code", "seconds"), line.split("\t"))) for line in (out / "steps.tsv").read_text().splitlines()]
record = {"suite": "benchmarks/gpu_suite.sh", "steps": steps,
          "files": sorted(p.name for p in out.iterdir() if p.suffix in (".json", ".md", ".png") and p.name != "gpu_suite.json"),
          **run.provenance(seeds={"all": 0}, device="cuda" if torch.cuda.is_available() else "cpu")}
(out / "gpu_suite.json").write_text(json.dumps(record, indent=2))
print(json.dumps(steps))
PYTHON
