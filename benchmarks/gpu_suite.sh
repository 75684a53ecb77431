#!/usr/bin/env bash
# The reproduction campaign's one prepared device script: the GPU work worth most inside 9 minutes on
# one H100 or H200 (a 500 s budget leaves room for the machine's start), in three phases:
#   1. (GPU_SUITE_THROUGHPUT=1) training throughput, Lightning against a plain loop (DCGAN-64 in fp32,
#      then bf16 + channels_last), alone on the GPU so that its timings mean something; both cards have
#      been measured (results/train_throughput_h{100,200}_*.json), so it is off by default;
#   2. the tables a CPU can least afford, every row its own process, side by side. By default the two
#      rows of f-GAN Table 4 (the paper's batch 4096) whose curves still rose where they stopped, GAN
#      and squared Hellinger (about 7,100 steps on an H200, three jobs side by side at 19 steps a second
#      each, results/gpu_suite_h200_fgan_3rows.json; seven rows are flat), and both come back to go on
#      (GPU_SUITE_KEEP below: a row's 33 MB checkpoint in two parts of at most 15 MiB; three rows fill a
#      device's 8 files). A later call continues a row only when .keep/ carries it in; otherwise every
#      call trains its rows from the start, and the committed table keeps each row's most trained run
#      (--carry-over); the batch-512 tables are complete on the CPU;
#   3. each table written: a Parzen table from the tables its jobs wrote (each holding its own rows,
#      merged with --carry-over into an empty run store, so no row is scored twice: rescoring nine f-GAN
#      rows took over 85 s on the H100), the others from the run store (their figures read its traces).
# Every job stops cleanly at its slice's end (--max-time) and the tables say which rows are partial.
# Only 8 files come back from a device, so past 7 result files the tables travel as one results.tar
# beside gpu_suite.json, which keeps the GPU_SUITE_* settings and each job's exit code, time and log
# tail. The run store and logs live outside OUT.
#
#   ZOO_COMMIT=$(git rev-parse HEAD) benchmarks/gpu_suite.sh       # on the device ($OUT is set there)
#   benchmarks/gpu_suite.sh --quick --out /tmp/suite                # CPU smoke run, tiny budgets
#
# GPU_SUITE_SECONDS (default 500) bounds the whole suite; GPU_SUITE_TABLES (default "fgan-table4", with the
# GPU_SUITE_ROWS above unless set)
# names the tables of phases 2 and 3: any Parzen table (fgan-table4 is the paper's batch, fgan-table4-alternating
# the alternating updates), improved-gan-mnist(-softplus), unrolled-mixtures, unrolled-stacked-mnist (each
# seed of each row a job); GPU_SUITE_ROWS (e.g. "half-k10") restricts the rows that train;
# GPU_SUITE_KEEP names runs or folders of runs in the run store (e.g. "fgan-table4/full/gan-seed0",
# "unrolled-stacked-mnist/full/dhalf_k10") that come back as keep-*.tar.gz[.partN-of-M] (`zoo runs pack`):
# `zoo runs unpack keep-*` puts them in the CPU's run store, and copied into .keep/ (ignored by git;
# name it in the call's carry, 64 MiB a call with the rest of the tree) they go on at the next device
# call; GPU_SUITE_THROUGHPUT=0 skips phase 1.
# Stacked MNIST scores with the zoo's MNIST classifier: carry the one the CPU results used and point
# $ZOO_CACHE at it.
#
# On a device the tree may arrive with a stale copy of .git: with ZOO_COMMIT set, git is not asked.
# Data: only the repository travels to the device, so put MNIST inside it first:
#   mkdir -p shared/datasets/MNIST/raw && cp ../shared/datasets/MNIST/raw/*.gz shared/datasets/MNIST/raw/
# Packages: the device's image lacks jsonargparse[signatures], which LightningCLI (every row's fit) needs;
# the suite stops at once, in one line, if anything it imports is missing. Carry the wheels in .whl/
# (ignored by git; name it in the call's carry) and the suite installs them first:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl jsonargparse docstring-parser typeshed-client
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
[ -n "${ZOO_COMMIT:-}" ] && export GIT_DIR=/nonexistent-device-copy
PY=${PYTHON:-python3}
TOTAL=${GPU_SUITE_SECONDS:-500}
if [ -z "${GPU_SUITE_TABLES:-}" ]; then
    export GPU_SUITE_ROWS=${GPU_SUITE_ROWS-"gan squared-hellinger"}
    MODE=$([ "$QUICK" = 1 ] && echo quick || echo full)
    export GPU_SUITE_KEEP=${GPU_SUITE_KEEP-"fgan-table4/$MODE/gan-seed0 fgan-table4/$MODE/squared-hellinger-seed0"}
fi
TABLES=${GPU_SUITE_TABLES:-fgan-table4}
ASSEMBLE_SECONDS=${GPU_SUITE_ASSEMBLE_SECONDS:-90}  # kept back from phase 2 to score and write the tables
START=$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_suite.XXXXXX")
if compgen -G ".whl/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$WORK/site" .whl/*.whl || exit 2
    export PYTHONPATH="$PYTHONPATH:$WORK/site"
fi
# Every row's fit goes through LightningCLI: find out now, not after the first job's start-up, if it cannot run.
"$PY" - <<'PYTHON' || exit 2
import importlib.util, sys
missing = [name for name in ("pytorch_lightning", "torchmetrics", "jsonargparse", "docstring_parser", "typeshed_client")
           if importlib.util.find_spec(name) is None]
if missing:
    sys.exit(f"gpu_suite.sh: {', '.join(missing)} missing here; carry their wheels in .whl/ (see the top of this script)")
PYTHON
: > "$WORK/steps.tsv"
# Runs carried in .keep/ (or $GPU_SUITE_CARRIED_RUNS): archives `zoo runs pack` wrote, e.g. the keep-*
# files of an earlier call, go into the run store first, so that the jobs' --resume continues them.
CARRIED=${GPU_SUITE_CARRIED_RUNS:-.keep}
if compgen -G "$CARRIED/*" > /dev/null; then
    began=$(date +%s)
    "$PY" -m zoo.cli runs unpack "$CARRIED"/* --runs "$ZOO_RUNS" > "$WORK/unpack.log" 2>&1
    printf '%s\t%s\t%s\n' unpack "$?" "$(( $(date +%s) - began ))" >> "$WORK/steps.tsv"
fi

left() { echo $(( TOTAL - ($(date +%s) - START) )); }
hms() { printf '%02d:%02d:%02d' $(( $1 / 3600 )) $(( $1 % 3600 / 60 )) $(( $1 % 60 )); }
# step NAME SECONDS COMMAND...: run COMMAND for at most SECONDS (and never past the total), logging
# to $WORK/NAME.log and recording its exit code and time; safe to run several at once in the background.
step() {
    local name=$1 seconds=$2; shift 2
    [ "$seconds" -gt "$(left)" ] && seconds=$(left)
    if [ "$seconds" -le 5 ]; then printf '%s\tskipped\t0\n' "$name" >> "$WORK/steps.tsv"; return; fi
    echo "== $name: up to $seconds s"
    local began=$(date +%s)
    timeout --kill-after=20 "$seconds" "$@" > "$WORK/$name.log" 2>&1
    printf '%s\t%s\t%s\n' "$name" "$?" "$(( $(date +%s) - began ))" >> "$WORK/steps.tsv"
}

# jobs_of TABLE: one line per process that trains a part of TABLE ("NAME<TAB>ARGS": rows and seeds
# apart, $GPU_SUITE_ROWS restricting the rows), the first two with --quick; assembly_of TABLE: the
# --rows/--seeds arguments that write the table from what those jobs trained.
spec_of() {
    "$PY" - "$1" "$2" "$QUICK" ${GPU_SUITE_ROWS:-} <<'PYTHON'
import sys
from zoo.reproduce.selection import device_assembly, device_jobs

table, what, quick, rows = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4:] or None
if what == "assembly":
    print(" ".join(device_assembly(table, rows, quick)))
if what == "parzen":
    from zoo.reproduce.tables import TABLES

    print(int(table in TABLES))
for args in device_jobs(table, rows, quick) if what == "jobs" else ():
    name = [value if flag == "--rows" else f"seed{value}" for flag, value in zip(args[::2], args[1::2])]
    print("-".join([table, *name]), " ".join(args), sep="\t")
PYTHON
}
jobs_of() { spec_of "$1" jobs; }
assembly_of() { spec_of "$1" assembly; }

if [ "$QUICK" = 1 ]; then
    Q=--quick
    step throughput 120 "$PY" benchmarks/train_throughput.py --quick --device cpu --out "$OUT_DIR/throughput.json"
else
    Q=
    if [ "${GPU_SUITE_THROUGHPUT:-0}" = 1 ]; then
        step throughput-fp32 60 "$PY" benchmarks/train_throughput.py --image-size 64 --channels 3 --out "$OUT_DIR/throughput_dcgan64_fp32.json"
        step throughput-bf16 60 "$PY" benchmarks/train_throughput.py --image-size 64 --channels 3 --precision bf16-mixed --channels-last --out "$OUT_DIR/throughput_dcgan64_bf16.json"
    fi
fi

# Phase 2: one process per row or seed, one CPU thread each; --max-time leaves 30 s of the slice for
# the job's own scoring.
SLICE=$(( $(left) - ASSEMBLE_SECONDS ))
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for table in $TABLES; do
    while IFS=$'\t' read -r name args; do
        step "$name" "$SLICE" "$PY" -m zoo.cli reproduce "$table" $Q $args --resume \
            --max-time "$(hms $(( SLICE - 30 )))" --out "$WORK/parts/$name" &
    done < <(jobs_of "$table")
done
wait
unset OMP_NUM_THREADS MKL_NUM_THREADS

# Phase 3: a Parzen table from its jobs' tables, training and scoring nothing; the others from the run store.
for table in $TABLES; do
    parts=("$WORK"/parts/"$table"-*/"$table".json)
    if [ "$(spec_of "$table" parzen)" = 1 ] && [ -e "${parts[0]}" ]; then
        step "$table" "$(left)" env ZOO_RUNS="$WORK/no-runs" "$PY" -m zoo.cli reproduce "$table" $Q $(assembly_of "$table") \
            --no-train --carry-over "${parts[@]}" --out "$OUT_DIR" &
    else
        step "$table" "$(left)" "$PY" -m zoo.cli reproduce "$table" $Q $(assembly_of "$table") --no-train --out "$OUT_DIR" &
    fi
done
wait

# Runs named in $GPU_SUITE_KEEP come back to go on elsewhere (`zoo runs unpack`, then --resume) or to be
# read into a table there: each run one archive of its state (in parts of at most 15 MiB where larger), paths from
# the run store's root. Packing is not cut short by the time left: it is what lets the runs go on.
if [ -n "${GPU_SUITE_KEEP:-}" ]; then
    began=$(date +%s)
    "$PY" -m zoo.cli runs pack $GPU_SUITE_KEEP --runs "$ZOO_RUNS" --out "$OUT_DIR" > "$WORK/keep.log" 2>&1
    printf '%s\t%s\t%s\n' keep "$?" "$(( $(date +%s) - began ))" >> "$WORK/steps.tsv"
fi

# A device returns at most 8 files: past that, the tables' files travel as one archive.
TABLE_FILES=$(cd "$OUT_DIR" && ls -- *.json *.md *.png 2>/dev/null | grep -v '^gpu_suite.json$')
KEPT_FILES=$(cd "$OUT_DIR" && ls -- keep-* 2>/dev/null)
if [ $(( $(echo "$TABLE_FILES" | wc -w) + $(echo "$KEPT_FILES" | wc -w) )) -gt 7 ]; then
    (cd "$OUT_DIR" && tar -cf results.tar $TABLE_FILES && rm -f $TABLE_FILES)
fi

GPU_SUITE_CARRIED="$CARRIED" GPU_SUITE_TABLES="$TABLES" GPU_SUITE_SECONDS="$TOTAL" GPU_SUITE_ASSEMBLE_SECONDS="$ASSEMBLE_SECONDS" GPU_SUITE_QUICK="$QUICK" \
    "$PY" - "$OUT_DIR" "$WORK" "$START" <<'PYTHON'
import json, os, sys
from pathlib import Path

import torch

from zoo.provenance import RunStart, scrub_paths

out, work = Path(sys.argv[1]), Path(sys.argv[2])
run = RunStart(started_at=float(sys.argv[3]))  # the suite's start: its wall time covers every step
steps = [dict(zip(("step", "exit_code", "seconds"), line.split("\t"))) for line in (work / "steps.tsv").read_text().splitlines()]
for step in steps:
    log = work / f"{step['step']}.log"
    step["log_tail"] = scrub_paths(log.read_text(errors="replace").splitlines()[-15:]) if log.exists() else []
# The budget the suite ran under: what a second run needs to repeat it.
settings = {name: os.environ.get(name, "") for name in ("GPU_SUITE_TABLES", "GPU_SUITE_ROWS", "GPU_SUITE_SECONDS",
                                                       "GPU_SUITE_ASSEMBLE_SECONDS", "GPU_SUITE_KEEP", "GPU_SUITE_THROUGHPUT")}
carried = Path(os.environ["GPU_SUITE_CARRIED"])  # the archives of runs it went on from, by name
settings["carried_runs"] = sorted(p.name for p in carried.iterdir()) if carried.is_dir() else []
suite = "benchmarks/gpu_suite.sh" + (" --quick" if os.environ["GPU_SUITE_QUICK"] == "1" else "")
record = {"suite": suite, "settings": settings, "steps": steps,
          "files": sorted(p.name for p in out.iterdir() if (p.suffix in (".json", ".md", ".png") or ".tar" in p.name)
                          and p.name != "gpu_suite.json"),
          **run.provenance(seeds={"all": 0}, device="cuda" if torch.cuda.is_available() else "cpu")}
(out / "gpu_suite.json").write_text(json.dumps(record, indent=2))
for step in steps:
    print(f"== {step['step']}: exit {step['exit_code']}, {step['seconds']} s", *step["log_tail"][-4:], sep="\n  ")
PYTHON
