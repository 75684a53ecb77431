"""W&B runs: an offline run folder (``<save_dir>/wandb/offline-run-…``) or an online run by path.

An offline run keeps its history only in ``run-<id>.wandb``, a LevelDB-style log of protobuf
records that recent wandb versions no longer read from Python; :func:`_records` reads that framing.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.compare import identity
from zoo.compare.runs import Run
from zoo.errors import ZooConfigError

_BLOCK, _HEADER = 32768, 7  # LevelDB log blocks; each chunk: checksum (4, not checked), length (2), type (1)
_FULL, _FIRST, _LAST = 1, 2, 4


def _records(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ZooConfigError(f"{path} is not a W&B run file")
    position, parts = _HEADER, []
    while position + _HEADER <= len(data):
        if _BLOCK - position % _BLOCK < _HEADER:  # a block's tail too short for a header is padding
            position += _BLOCK - position % _BLOCK
            continue
        length, kind = struct.unpack_from("<HB", data, position + 4)
        if position + _HEADER + length > len(data):  # a run still writing ends mid-record
            break
        chunk = data[position + _HEADER : position + _HEADER + length]
        position += _HEADER + length
        if kind in (_FULL, _FIRST):
            parts = [chunk]
        elif parts:
            parts.append(chunk)
        if kind in (_FULL, _LAST) and parts:
            yield b"".join(parts)
            parts = []


def _scalar(value_json: str) -> float | None:
    value = json.loads(value_json)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def _history_row(values: dict[str, Any]) -> dict[str, float] | None:
    """A W&B history row as a zoo row: Lightning's step is ``trainer/global_step``; W&B's own keys go."""
    step = values.get("trainer/global_step")
    if step is None:
        return None
    row = {key: value for key, value in values.items() if not key.startswith("_") and key != "trainer/global_step"}
    # A row of images alone counts its step in optimizer steps, not batches: leave it out.
    return {"step": float(step), **row} if row else None


def read_offline(path: Path) -> Run:
    """An offline W&B run folder; it is described by the checkpoint Lightning saved next to it."""
    from wandb.proto import wandb_internal_pb2

    run_file = sorted(path.glob("run-*.wandb"))[-1]
    rows, config, name, project, run_id = [], {}, None, None, run_file.stem.removeprefix("run-")
    for data in _records(run_file):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "history":
            # A media object (a sample grid) arrives as several nested keys; a metric has one key.
            items = {item.key or item.nested_key[0]: _scalar(item.value_json) for item in record.history.item
                     if item.key or len(item.nested_key) == 1}
            row = _history_row({key: value for key, value in items.items() if value is not None})
            if row:
                rows.append(row)
        elif kind == "config":
            config.update({item.key: json.loads(item.value_json) for item in record.config.update if item.key})
        elif kind == "run":
            name, project = record.run.display_name or None, record.run.project or None
    run = Run(f"{name}/{run_id}" if name else run_id, str(path), rows)
    # WandbLogger keeps checkpoints in <save_dir>/<project>/<run id>/, and save_dir holds wandb/<this run>.
    info = identity.read_checkpoint_info(path.parent.parent / (project or "") / run_id / "checkpoints" / "last.ckpt")
    if info is not None:
        described = identity.describe(info["model_class"], info["data_class"], info["model_args"], info["data_args"])
    else:
        described = identity.describe(None, None, config, {})
    run.paper, run.dataset, run.variant = described["paper"], described["dataset"], described["variant"]
    return run


def read_online(run_path: str) -> Run:
    """A W&B run by ``entity/project/run_id``, through the public API (needs the network and a login)."""
    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun", "disabled"):
        raise ZooConfigError(
            f"{run_path} is a W&B run path, but WANDB_MODE={os.environ['WANDB_MODE']}: unset it to read from W&B, or pass the local run folder"
        )
    import wandb

    try:
        remote = wandb.Api(timeout=30).run(run_path)
        history = list(remote.scan_history())
        config = dict(remote.config)
    except Exception as error:  # no login, no network, no such run: wandb raises many kinds
        first_line = (str(error).splitlines() or [""])[0]
        raise ZooConfigError(f"cannot read W&B run {run_path}: {type(error).__name__}: {first_line}") from None
    rows = []
    for values in history:
        row = _history_row({k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
        if row:
            rows.append(row)
    described = identity.describe(None, None, config, {})
    return Run(remote.name or run_path, run_path, rows, described["paper"], described["dataset"], described["variant"])
