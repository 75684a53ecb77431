"""Every committed result file can be trusted to say where it came from."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO
from zoo.provenance import check_result

RESULTS = sorted((REPO / "results").rglob("*.json"))  # control experiments live in subfolders


@pytest.mark.parametrize("path", RESULTS, ids=[p.relative_to(REPO / "results").as_posix() for p in RESULTS])
def test_a_result_file_names_a_clean_commit_and_no_machine_path(path):
    record = json.loads(path.read_text())
    check_result(record)
    assert record.get("commit"), f"{path.name} does not record the commit it ran at"
    assert "wall_time_s" in record and "device" in record
