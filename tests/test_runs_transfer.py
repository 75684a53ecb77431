"""`zoo runs pack` / `unpack`: a run travels between run stores byte for byte, split into parts no larger
than asked, without its periodic checkpoints, and an archive cannot write outside one run folder."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from zoo.cli import main as zoo
from zoo.errors import ZooConfigError
from zoo.reproduce.transfer import main

RUN = "fgan-table4/full/gan-seed0"


def _make_run(store: Path, name: str = RUN, epochs: int = 5, checkpoint_bytes: int = 300_000) -> Path:
    run = store / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(os.urandom(checkpoint_bytes))  # incompressible, as weights nearly are
    (run / "checkpoints" / f"epoch={epochs - 1}-step=0000070.ckpt").write_bytes(b"periodic")
    (run / "run.json").write_text(json.dumps({"epochs_done": epochs}))
    (run / "logs").mkdir()
    (run / "logs" / "metrics.csv").write_text("step,loss\n1,0.5\n")
    return run


def _files(run: Path) -> dict[str, bytes]:
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def test_a_packed_run_is_split_into_parts_and_unpacks_into_another_store_byte_for_byte(tmp_path, capsys):
    home, away, out = tmp_path / "home", tmp_path / "away", tmp_path / "out"
    run = _make_run(home)
    assert main(["pack", RUN, "--runs", str(home), "--out", str(out), "--part-mib", "0.1"]) == 0
    parts = sorted(out.iterdir())
    assert [p.name for p in parts] == [f"keep-fgan-table4-full-gan-seed0.tar.gz.part{i}-of-3" for i in (1, 2, 3)]
    assert all(p.stat().st_size <= 0.1 * 2**20 for p in parts)
    assert main(["unpack", *map(str, reversed(parts)), "--runs", str(away)]) == 0  # any order
    expected = {name: data for name, data in _files(run).items() if "epoch=" not in name}
    assert _files(away / RUN) == expected and "checkpoints/last.ckpt" in expected
    assert f"into {away / RUN}" in capsys.readouterr().out


def test_a_folder_of_runs_packs_each_run_whole_when_small(tmp_path):
    store, out = tmp_path / "store", tmp_path / "out"
    for seed in (0, 1):
        _make_run(store, f"unrolled-mixtures/quick/ring_k0/seed{seed}", checkpoint_bytes=1000)
    (store / "unrolled-mixtures/quick/ring_k0/.lock").write_text("")
    assert main(["pack", "unrolled-mixtures/quick/ring_k0", "--runs", str(store), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"keep-unrolled-mixtures-quick-ring_k0-seed{s}.tar.gz" for s in (0, 1)]


def test_unpack_refuses_to_replace_a_run_unless_asked_and_a_missing_part_in_one_line(tmp_path, capsys):
    home, away, out = tmp_path / "home", tmp_path / "away", tmp_path / "out"
    _make_run(home, epochs=9)
    main(["pack", RUN, "--runs", str(home), "--out", str(out), "--part-mib", "0.1"])
    parts = sorted(map(str, out.iterdir()))
    _make_run(away, epochs=4)
    with pytest.raises(ZooConfigError, match=r"gan-seed0 exists \(4 epochs\); pass --replace"):
        main(["unpack", *parts, "--runs", str(away)])
    with pytest.raises(ZooConfigError, match=r"lacks part\(s\) 2 of 3; pass every part"):
        main(["unpack", parts[0], parts[2], "--runs", str(away), "--replace"])
    assert main(["unpack", *parts, "--runs", str(away), "--replace"]) == 0
    assert json.loads((away / RUN / "run.json").read_text()) == {"epochs_done": 9}
    assert not list((away / RUN / "checkpoints").glob("epoch=*"))  # the old run's files went with it


def test_an_archive_that_writes_outside_one_run_folder_is_refused(tmp_path):
    for members in (["run/a.txt", "../escape.txt"], ["one/a.txt", "two/b.txt"], ["/abs/a.txt"]):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for name in members:
                info = tarfile.TarInfo(name)
                info.size = 1
                archive.addfile(info, io.BytesIO(b"x"))
        bad = tmp_path / "bad.tar.gz"
        bad.write_bytes(buffer.getvalue())
        with pytest.raises(ZooConfigError, match="is not one run folder of plain files; not extracted"):
            main(["unpack", str(bad), "--runs", str(tmp_path / "store")])
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "store").exists()


def test_pack_names_each_folder_without_runs_in_one_line_and_packs_the_others(tmp_path, capsys):
    store, out = tmp_path / "store", tmp_path / "out"
    (store / "empty").mkdir(parents=True)
    _make_run(store, checkpoint_bytes=1000)
    assert zoo(["runs", "pack", "empty", RUN, "nothing-here", "--runs", str(store), "--out", str(out)]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"zoo runs pack: empty holds no run (a folder with checkpoints/) in {store}",
        f"zoo runs pack: no folder nothing-here in the run store {store}"]
    assert [p.name for p in out.iterdir()] == ["keep-fgan-table4-full-gan-seed0.tar.gz"]


def test_unpack_will_not_replace_a_run_while_a_job_trains_in_its_table(tmp_path):
    from zoo.reproduce.lock import table_lock

    home, away, out = tmp_path / "home", tmp_path / "away", tmp_path / "out"
    _make_run(home, checkpoint_bytes=1000)
    main(["pack", RUN, "--runs", str(home), "--out", str(out)])
    _make_run(away, epochs=4)
    with table_lock(away / "fgan-table4" / "full", "fgan-table4", "gan"):  # as `zoo reproduce fgan-table4 --rows gan` holds it
        with pytest.raises(ZooConfigError, match=rf"zoo reproduce is training in .*full: gan \(pid {os.getpid()}\); stop it"):
            main(["unpack", *map(str, out.iterdir()), "--runs", str(away), "--replace"])
    assert json.loads((away / RUN / "run.json").read_text()) == {"epochs_done": 4}  # untouched
