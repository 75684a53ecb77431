"""Every script in benchmarks/ runs: a tiny smoke run of each, as a subprocess, and a check of its JSON.

A new script without an entry in SMOKE_RUNS fails the suite.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import REPO, subprocess_env
from zoo.provenance import check_result

BENCHMARKS = REPO / "benchmarks"
# script -> its tiniest options (``{out}`` is the JSON it writes)
SMOKE_RUNS = {
    "parzen_speed.py": ["--quick", "--threads", "1", "--out", "{out}"],
    "train_throughput.py": ["--quick", "--device", "cpu", "--model", "vanilla", "fgan", "dcgan", "unrolled", "--out", "{out}"],
    "gpu_suite.sh": ["--quick", "--out", "{out_dir}"],  # writes {out_dir}/gpu_suite.json
    "parallel_jobs.py": ["--quick", "--out", "{out}"],
}
# A third table takes the suite past a device's 8 returned files, so its tables travel as one archive;
# the unrolled row's two seeds train as two jobs and come back as archives of their runs.
SMOKE_ENV = {"gpu_suite.sh": {"GPU_SUITE_TABLES": "fgan-table4 improved-gan-mnist unrolled-mixtures",
                              "GPU_SUITE_KEEP": "unrolled-mixtures/quick/ring_k0"}}


CARRIED_RUN = "gan2014-table1/quick/carried-seed0"


def _carried_run(folder: Path) -> Path:
    """An archive of a small run, as ``zoo runs pack`` writes one on another machine."""
    from zoo.reproduce.transfer import pack

    run = folder / "store" / CARRIED_RUN
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"state")
    (run / "run.json").write_text(json.dumps({"epochs_done": 3}))
    pack(run, folder / "store", folder / "archives", part_bytes=2**20)
    return folder / "archives"


def needs_mnist(script: str) -> bool:
    return script in ("parzen_speed.py", "gpu_suite.sh")


def mnist_available() -> bool:
    return (Path(os.environ["ZOO_DATA"]) / "MNIST" / "raw").is_dir()


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, dict | None]]:
    """Run every smoke command at once (they are short and mostly start-up), then collect them."""
    folder = tmp_path_factory.mktemp("benchmarks")
    started = {}
    for script, options in SMOKE_RUNS.items():
        if needs_mnist(script) and not mnist_available():
            continue
        out_dir = folder / Path(script).stem
        out = out_dir / "gpu_suite.json" if script.endswith(".sh") else folder / f"{Path(script).stem}.json"
        runner = ["bash"] if script.endswith(".sh") else [sys.executable]
        command = [*runner, str(BENCHMARKS / script), *(o.format(out=out, out_dir=out_dir) for o in options)]
        env = {**subprocess_env(), "ZOO_RUNS": str(out_dir / "runs"), **SMOKE_ENV.get(script, {})}
        if script == "gpu_suite.sh":  # a run carried in, as .keep/ carries one to a device
            env["GPU_SUITE_CARRIED_RUNS"] = str(_carried_run(folder / "carried"))
        started[script] = (subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, text=True), out)
    results = {}
    for script, (process, out) in started.items():
        output, _ = process.communicate(timeout=600)
        record = json.loads(out.read_text()) if out.exists() else None
        results[script] = (subprocess.CompletedProcess(process.args, process.returncode, output), record, out)
    return results


def test_every_benchmark_script_has_a_smoke_run():
    scripts = {path.name for pattern in ("*.py", "*.sh") for path in BENCHMARKS.glob(pattern)}
    assert scripts == set(SMOKE_RUNS), f"benchmarks without a smoke run (add them to SMOKE_RUNS): {scripts - set(SMOKE_RUNS)}"


def finished(smoke_results, script: str) -> dict:
    if script not in smoke_results:
        pytest.skip(f"{script} needs the MNIST files in $ZOO_DATA/MNIST/raw")
    completed, record, _ = smoke_results[script]
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert record is not None, f"{script} wrote no JSON"
    assert record["commit"] == subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    check_result({k: v for k, v in record.items() if k != "uncommitted_changes"})  # no machine paths, no "+dirty"
    assert record["wall_time_s"] > 0 and record["device"].startswith("cpu")
    return record


def test_parzen_speed_smoke_run(smoke_results):
    record = finished(smoke_results, "parzen_speed.py")
    assert record["config"]["quick"] and (record["config"]["points"], record["config"]["samples"], record["config"]["dim"]) == (200, 1024, 784)
    assert "MNIST train" in record["data"]["kernel_centres"] and "MNIST test" in record["data"]["points"]
    assert record["zoo_seconds"] > 0 and record["zoo_gflops"] > 0 and record["matmul_peak_gflops"] > 0
    assert record["fraction_of_matmul_peak"] == pytest.approx(record["zoo_gflops"] / record["matmul_peak_gflops"])
    assert record["zoo_max_abs_difference_from_float64_direct_nats"]["value"] < 1e-3
    assert record["reference"]["extrapolated_seconds"] > record["reference"]["subset_seconds"] > 0
    assert record["reference"]["max_abs_difference_nats"] < 1e-2
    assert record["sklearn"]["extrapolated_seconds"] > 0 and record["speedup_vs_reference"] > 1
    assert math.isfinite(record["mean_log_likelihood_nats"]) and record["peak_memory_mib"] >= 0
    assert record["command"].startswith("python benchmarks/parzen_speed.py --quick")


def test_train_throughput_smoke_run(smoke_results):
    record = finished(smoke_results, "train_throughput.py")
    settings = record["settings"]
    assert settings["quick"] and (settings["steps"], settings["repeats"], settings["width"]) == (2, 1, 8)
    assert record["threads"] == 1 and record["command"].startswith("python benchmarks/train_throughput.py --quick")
    assert set(record["models"]) == {"vanilla", "fgan", "dcgan", "unrolled"}
    for name, model in record["models"].items():
        ms = model["ms_per_step_median"]
        assert set(ms) == {"plain", "lightning", "roofline"} and all(t > 0 for t in ms.values()), name
        assert all(len(runs) == 1 for runs in model["ms_per_step_all"].values())
        assert model["lightning_over_plain"] == pytest.approx(ms["lightning"] / ms["plain"], rel=1e-2)  # one round
        assert model["fraction_of_roofline"] == pytest.approx(ms["roofline"] / ms["lightning"], rel=1e-2)
        assert model["roofline"]["gemm_calls"] > 0 and model["roofline"]["gflop_per_step"] > 0
        assert model["same_gemms_as_plain"], f"{name}: the Trainer's step ran other matrix products than the plain loop's"
    # D's and G's forward and backward per step: 3 + 3 linear layers each way at least, and the unrolled steps on top
    calls = {name: model["roofline"]["gemm_calls"] for name, model in record["models"].items()}
    assert calls["unrolled"] > calls["vanilla"] >= 12


def test_parallel_jobs_smoke_run_compares_one_process_with_one_per_core(smoke_results):
    record = finished(smoke_results, "parallel_jobs.py")
    assert record["model"] == "unrolled" and record["cores"] == 2 and record["settings"]["rounds"] == 1
    (round_,) = record["rounds"]
    assert [p["threads"] for p in round_["together"]["processes"]] == [2]
    assert [p["threads"] for p in round_["apart"]["processes"]] == [1, 1]
    for layout in ("together", "apart"):
        steps_per_second = sum(1 / p["seconds_per_step"] for p in round_[layout]["processes"])
        assert round_[layout]["steps_per_second"] == pytest.approx(steps_per_second, rel=1e-3)
    assert record["apart_over_together"] == pytest.approx(
        round_["apart"]["steps_per_second"] / round_["together"]["steps_per_second"], rel=1e-3)


def test_gpu_suite_smoke_run_runs_every_step_and_writes_its_tables(smoke_results):
    record = finished(smoke_results, "gpu_suite.sh")
    steps = {step["step"]: step for step in record["steps"]}
    parallel = {"fgan-table4-gan", "fgan-table4-kullback-leibler", "improved-gan-mnist-seed0", "improved-gan-mnist-seed1",
                "unrolled-mixtures-ring-k0-seed0", "unrolled-mixtures-ring-k0-seed1"}  # a job per row or seed
    assert set(steps) == {"unpack", "throughput", *parallel, "fgan-table4", "improved-gan-mnist", "unrolled-mixtures", "keep"}
    assert all(step["exit_code"] == "0" for step in steps.values()), steps
    settings = record["settings"]  # what a second run needs to repeat this one
    assert record["suite"] == "benchmarks/gpu_suite.sh --quick" and settings["GPU_SUITE_TABLES"] == SMOKE_ENV["gpu_suite.sh"]["GPU_SUITE_TABLES"]
    assert settings["GPU_SUITE_KEEP"] == "unrolled-mixtures/quick/ring_k0" and int(settings["GPU_SUITE_SECONDS"]) > 0
    assert record["wall_time_s"] >= sum(int(steps[name]["seconds"]) for name in ("throughput", "fgan-table4"))
    kept = [f"keep-unrolled-mixtures-quick-ring_k0-seed{seed}.tar.gz" for seed in (0, 1)]
    assert record["files"] == [*kept, "results.tar"]  # ten result files: one archive
    folder = smoke_results["gpu_suite.sh"][2].parent
    with tarfile.open(folder / "results.tar") as archive:
        files = {member.name: archive.extractfile(member).read() for member in archive.getmembers()}
    assert {"throughput.json", "fgan-table4.png", "improved-gan-mnist.md", "unrolled-mixtures.png"} <= set(files)
    fgan = json.loads(files["fgan-table4.json"])
    assert [row["name"] for row in fgan["rows"]] == ["GAN", "Kullback-Leibler"] and fgan["complete"]  # assembled from two jobs
    # merged from the tables the two jobs wrote, not scored again
    assert [row["carried_over_from"]["file"] for row in fgan["rows"]] == [
        f"<outside the repository>/fgan-table4-{job}/fgan-table4.json" for job in ("gan", "kullback-leibler")]  # which job's
    mixtures = json.loads(files["unrolled-mixtures.json"])
    assert [(row["unroll_steps"], [s["seed"] for s in row["seeds"]]) for row in mixtures["rows"]] == [(0, [0, 1])]
    for seed, name in enumerate(kept):  # each seed's run, ready to extract into another run store
        with tarfile.open(folder / name) as archive:
            names = set(archive.getnames())
        run = f"unrolled-mixtures/quick/ring_k0/seed{seed}"
        assert {f"{run}/result.json", f"{run}/identity.json", f"{run}/checkpoints/last.ckpt"} <= names
        assert not any("epoch=" in n for n in names)  # periodic checkpoints stay behind: files come back ≤ 16 MiB
    # the carried run went into the suite's run store before any job started
    assert json.loads((folder / "runs" / CARRIED_RUN / "run.json").read_text()) == {"epochs_done": 3}
    assert settings["carried_runs"] == ["keep-gan2014-table1-quick-carried-seed0.tar.gz"]
    improved = json.loads(files["improved-gan-mnist.json"])
    assert [seed["seed"] for seed in improved["rows"][0]["per_seed"]] == [0, 1]


def test_gpu_suite_stops_in_one_line_before_any_job_when_a_package_is_missing(tmp_path):
    # a Python that sees only the standard library (-S: no site-packages), as a device image without the wheels
    bare = tmp_path / "bare-python"
    bare.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    bare.chmod(0o755)
    copy = tmp_path / "tree" / "benchmarks" / "gpu_suite.sh"  # a tree without .whl/, whatever this checkout holds
    copy.parent.mkdir(parents=True)
    copy.write_text((BENCHMARKS / "gpu_suite.sh").read_text())
    env = {**subprocess_env(), "PYTHON": str(bare), "ZOO_RUNS": str(tmp_path / "runs")}
    completed = subprocess.run(["bash", str(copy), "--quick", "--out", str(tmp_path / "out")],
                               env=env, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        "gpu_suite.sh: pytorch_lightning, torchmetrics, jsonargparse, docstring_parser, typeshed_client missing here; "
        "carry their wheels in .whl/ (see the top of this script)"]
    assert not (tmp_path / "runs").exists() and list((tmp_path / "out").iterdir()) == []  # nothing trained, nothing written
