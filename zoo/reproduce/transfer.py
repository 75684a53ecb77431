"""``zoo runs pack`` and ``zoo runs unpack``: carry training runs between run stores, so that a run
one machine began (a device lent for minutes, a preempted node) goes on elsewhere with ``--resume``.

A run is a folder holding ``checkpoints/``. ``pack`` writes each as one gzipped tar of its state,
paths from the run store's root, without the periodic ``epoch=*`` checkpoints (``last.ckpt`` is the
state a resume needs), split into numbered parts when it is larger than ``--part-mib`` (15): a device
returns files of at most 16 MiB. ``unpack`` joins the parts, checks that every member stays inside
one run folder, and extracts it into the run store, refusing to replace a run that is there unless
asked.

A run moved between devices goes on from its checkpoint, but not on the same random stream: CUDA
and CPU draw different numbers, so it does not retrace what it would have drawn at home.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import sys
import tarfile
from pathlib import Path, PurePosixPath

from zoo.errors import ZooConfigError
from zoo.reproduce.lock import running_jobs
from zoo.reproduce.runs import run_store

DEVICE_FILE_MIB = 16  # the largest file a device machine returns
PART_MIB = 15  # parts a little smaller, so that an archive never brushes that limit
PART = re.compile(r"(?P<stem>.+\.tar\.gz)\.part(?P<index>\d+)-of-(?P<count>\d+)")


def runs_under(store: Path, folder: str) -> list[Path]:
    """The runs ``folder`` (relative to ``store``) names: itself if it is one, else its sub-folders that are."""
    path = store / folder
    if not path.is_dir():
        raise ZooConfigError(f"no folder {folder} in the run store {store}")
    runs = [path] if (path / "checkpoints").is_dir() else sorted(p for p in path.iterdir() if (p / "checkpoints").is_dir())
    if not runs:
        raise ZooConfigError(f"{folder} holds no run (a folder with checkpoints/) in {store}")
    return runs


def archive_name(run: Path, store: Path) -> str:
    return "keep-" + "-".join(run.relative_to(store).parts) + ".tar.gz"


def _keep(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if PurePosixPath(member.name).name.startswith("epoch=") else member


def pack(run: Path, store: Path, out: Path, part_bytes: int) -> list[Path]:
    """Write ``run`` as ``out/keep-<path>.tar.gz``, or as its parts when larger than ``part_bytes``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        archive.add(run, arcname=run.relative_to(store).as_posix(), filter=_keep)
    data, name = buffer.getvalue(), archive_name(run, store)
    out.mkdir(parents=True, exist_ok=True)
    if len(data) <= part_bytes:
        (out / name).write_bytes(data)
        return [out / name]
    count = -(-len(data) // part_bytes)
    paths = [out / f"{name}.part{index + 1}-of-{count}" for index in range(count)]
    for index, path in enumerate(paths):
        path.write_bytes(data[index * part_bytes:(index + 1) * part_bytes])
    return paths


def group_archives(files: list[Path]) -> dict[str, list[Path]]:
    """Whole archives and complete sets of parts, by archive name; a missing part is an error."""
    groups: dict[str, dict[int, Path]] = {}
    counts: dict[str, int] = {}
    for file in files:
        part = PART.fullmatch(file.name)
        if part is None:
            if not file.name.endswith(".tar.gz"):
                raise ZooConfigError(f"{file.name} is neither a .tar.gz archive nor one of its parts")
            groups.setdefault(file.name, {})[1] = file
            counts[file.name] = 1
            continue
        stem = part["stem"]
        groups.setdefault(stem, {})[int(part["index"])] = file
        counts[stem] = int(part["count"])
    for stem, parts in groups.items():
        missing = sorted(set(range(1, counts[stem] + 1)) - set(parts))
        if missing:
            raise ZooConfigError(f"{stem} lacks part(s) {', '.join(map(str, missing))} of {counts[stem]}; "
                                 "pass every part")
    return {stem: [parts[index] for index in sorted(parts)] for stem, parts in groups.items()}


def _epochs_done(run: Path) -> str:
    try:
        return f"{json.loads((run / 'run.json').read_text())['epochs_done']} epochs"
    except (OSError, KeyError, ValueError):
        return "its state unknown"


def _training_near(run: Path, store: Path) -> str | None:
    """``"<folder>: <jobs>"`` for the first folder between ``run`` and ``store`` whose locks a
    ``zoo reproduce`` holds (the table's folder holds them), else None."""
    for folder in run.parents:
        if folder == store or store not in folder.parents:
            return None
        jobs = running_jobs(folder)
        if jobs:
            return f"{folder}: {', '.join(jobs)}"
    return None


def unpack(parts: list[Path], store: Path, replace: bool = False) -> Path:
    """Extract one archive (its parts in order) into ``store``; the run folder it restored."""
    data = b"".join(part.read_bytes() for part in parts)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = archive.getmembers()
        names = [PurePosixPath(member.name) for member in members]
        roots = {name for name in names if not any(other != name and name.is_relative_to(other) for other in names)}
        if (len(roots) != 1 or any(name.is_absolute() or ".." in name.parts for name in names)
                or not members or not all(m.isfile() or m.isdir() for m in members)):
            raise ZooConfigError(f"{parts[0].name} is not one run folder of plain files; not extracted")
        run = store / next(iter(roots))
        if run.exists() and not replace:
            raise ZooConfigError(f"{run} exists ({_epochs_done(run)}); pass --replace to put the "
                                 f"archive's run in its place")
        if run.exists():
            busy = _training_near(run, store)
            if busy:
                raise ZooConfigError(f"zoo reproduce is training in {busy}; stop it before replacing {run}")
            shutil.rmtree(run)
        store.mkdir(parents=True, exist_ok=True)
        # members are checked above; where tarfile can, it checks them again (Python ≥ 3.10.12)
        archive.extractall(store, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return run


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="zoo runs", description="Carry training runs between run stores.")
    verbs = parser.add_subparsers(dest="verb", required=True)
    packing = verbs.add_parser("pack", help="write runs as archives: FOLDER… relative to the run store")
    packing.add_argument("folders", nargs="+", metavar="FOLDER",
                         help="a run (e.g. fgan-table4/full/gan-seed0) or a folder of runs (e.g. unrolled-mixtures/full/ring_k10)")
    packing.add_argument("--out", required=True, help="folder for the archives")
    packing.add_argument("--part-mib", type=float, default=PART_MIB,
                         help=f"split archives larger than this (default {PART_MIB}: a device returns files of up to {DEVICE_FILE_MIB})")
    unpacking = verbs.add_parser("unpack", help="extract archives (and sets of parts) into the run store")
    unpacking.add_argument("archives", nargs="+", metavar="ARCHIVE")
    unpacking.add_argument("--replace", action="store_true", help="replace runs the store already holds")
    for verb in (packing, unpacking):
        verb.add_argument("--runs", default=None, help="the run store (default: $ZOO_RUNS, else ~/.cache/zoo/runs)")
    args = parser.parse_args(argv)
    store = Path(args.runs).expanduser() if args.runs else run_store()
    if args.verb == "pack":
        if args.part_mib <= 0:
            raise ZooConfigError(f"--part-mib must be positive, got {args.part_mib}")
        missing = 0
        for folder in args.folders:  # one folder missing (a job that failed) does not keep the others back
            try:
                runs = runs_under(store, folder)
            except ZooConfigError as error:
                print(f"zoo runs pack: {error}", file=sys.stderr)
                missing += 1
                continue
            for run in runs:
                for path in pack(run, store, Path(args.out), int(args.part_mib * 2**20)):
                    print(f"wrote {path}")
        return 1 if missing else 0
    missing = [name for name in args.archives if not Path(name).is_file()]
    if missing:
        raise ZooConfigError(f"no file {', '.join(missing)}")
    for stem, parts in group_archives([Path(name) for name in args.archives]).items():
        print(f"unpacked {stem} into {unpack(parts, store, args.replace)}")
    return 0
