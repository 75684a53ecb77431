"""Provenance: results come from committed code and name no path of the machine."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from zoo.errors import ZooConfigError
from zoo.provenance import OUTSIDE, REPO, RunStart, check_result, relative_to_repo, scrub_paths


def git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A one-commit git repository with one tracked file."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    (path / "code.py").write_text("x = 1\n")
    git(path, "add", "code.py")
    git(path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    return path


def test_a_clean_tree_starts_and_records_the_bare_commit(repo):
    (repo / "notes.txt").write_text("untracked files do not make a tree dirty\n")
    run = RunStart(require_clean=True, repo=repo)
    record = run.provenance({"torch": 0})
    assert record["commit"] == git(repo, "rev-parse", "HEAD") and "uncommitted_changes" not in record
    check_result(record)


def test_wall_time_counts_from_a_start_given_by_an_earlier_step(repo):
    began = time.time() - 100.0  # e.g. the start of a shell script whose last step writes the record
    assert 100.0 <= RunStart(repo=repo, started_at=began).provenance({})["wall_time_s"] < 110.0
    assert RunStart(repo=repo).provenance({})["wall_time_s"] < 10.0


def test_strict_mode_refuses_a_copy_whose_commit_nobody_names(tmp_path, monkeypatch):
    # e.g. a worktree whose git metadata is missing: the run would record "unknown" as its commit
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "no-git"))
    monkeypatch.delenv("ZOO_COMMIT", raising=False)
    with pytest.raises(ZooConfigError, match="not a git checkout.*ZOO_COMMIT"):
        RunStart(require_clean=True, repo=tmp_path)
    assert RunStart(repo=tmp_path).commit.startswith("unknown")  # a quick run may go on, labelled so
    monkeypatch.setenv("ZOO_COMMIT", "c" * 40)  # a device copy of one commit names it
    assert RunStart(require_clean=True, repo=tmp_path).commit == "c" * 40


def test_strict_mode_refuses_changed_tracked_files_in_one_line(repo):
    (repo / "code.py").write_text("x = 2\n")
    with pytest.raises(ZooConfigError) as caught:
        RunStart(require_clean=True, repo=repo)
    message = str(caught.value)
    assert "\n" not in message and "code.py" in message
    assert "commit or stash your changes first; results are produced from committed code" in message
    record = RunStart(repo=repo).provenance({})  # the lenient mode lists the changes instead of a "+dirty" commit
    assert record["commit"] == git(repo, "rev-parse", "HEAD") and record["uncommitted_changes"] == ["code.py"]
    with pytest.raises(ZooConfigError, match="uncommitted code"):
        check_result(record)


def test_paths_are_written_relative_to_the_repo_or_the_run_store(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_RUNS", str(tmp_path / "runs"))
    assert relative_to_repo(REPO / "results" / "parzen_speed.json") == "results/parzen_speed.json"
    assert relative_to_repo(REPO) == "."
    assert relative_to_repo(tmp_path / "runs" / "gan" / "last.ckpt") == "$ZOO_RUNS/gan/last.ckpt"
    assert relative_to_repo("/proc/self/../cpuinfo") == f"{OUTSIDE}/cpuinfo"
    monkeypatch.chdir(REPO / "zoo")
    assert relative_to_repo("../results/x.json") == "results/x.json"  # relative to the working directory


def test_scrub_paths_rewrites_every_absolute_path_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_RUNS", str(tmp_path / "runs"))
    record = {
        "command": f"python benchmarks/parzen_speed.py --out {REPO}/results/p.json --ckpt {tmp_path}/runs/a/last.ckpt",
        "rows": [{"checkpoint": str(tmp_path / "runs" / "b.ckpt")}, {"path": REPO / "configs"}],
        "citation": "github.com/goodfeli/adversarial, https://arxiv.org/abs/1406.2661, 10/20 img/s, ./data, ~/x",
        "n": 3,
    }
    scrubbed = scrub_paths(record)
    assert scrubbed["command"] == "python benchmarks/parzen_speed.py --out results/p.json --ckpt $ZOO_RUNS/a/last.ckpt"
    assert scrubbed["rows"] == [{"checkpoint": "$ZOO_RUNS/b.ckpt"}, {"path": "configs"}]
    assert scrubbed["citation"] == record["citation"] and scrubbed["n"] == 3
    assert scrub_paths(scrubbed) == scrubbed
    check_result(scrubbed)
    with pytest.raises(ZooConfigError, match="absolute paths"):
        check_result(json.loads(json.dumps(record, default=str)))


def test_check_result_refuses_dirty_commits_and_commit_notes():
    with pytest.raises(ZooConfigError, match="uncommitted"):
        check_result({"commit": "9796dff+dirty"})
    with pytest.raises(ZooConfigError, match="commit note"):
        check_result({"commit": "9796dff", "commit_note": "loaded at another commit, trust me"})
