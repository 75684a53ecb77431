"""Where a W&B run's files go: W&B has no version folders of its own, so the zoo makes one per run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

RUN_FOLDER_ENV = "ZOO_RUN_FOLDER"
_FOLDERS_MADE_HERE: set[str] = set()  # versus a folder inherited from the launching process (DDP)


def give_unversioned_logger_its_own_folder(logger: Any) -> None:
    """Point a logger that has no version folders (W&B) at a new ``<save_dir>/<project>/version_N``.

    Without this every W&B run shares ``save_dir``: the second run's config.yaml collides with the
    first's, and samples of all runs mix. DDP child processes re-run this; they inherit the folder
    the launching process chose through the environment, so all ranks agree.
    """
    if not isinstance(logger, dict) and not hasattr(logger, "get"):
        return
    if not str(logger.get("class_path", "")).endswith("WandbLogger"):
        return
    init_args = logger.get("init_args") or {}
    folder = os.environ.get(RUN_FOLDER_ENV)
    if folder is None or folder in _FOLDERS_MADE_HERE:  # a folder made here belongs to an earlier run of this process
        parent = Path(init_args.get("save_dir") or ".") / str(init_args.get("project") or "lightning_logs")
        parent.mkdir(parents=True, exist_ok=True)
        version = len(list(parent.glob("version_*")))
        while True:
            try:
                (parent / f"version_{version}").mkdir()
                break
            except FileExistsError:  # another run took it a moment ago
                version += 1
        # Absolute: wandb resolves a relative dir against the working directory of the process's first run.
        folder = str((parent / f"version_{version}").resolve())
        _FOLDERS_MADE_HERE.add(folder)
        os.environ[RUN_FOLDER_ENV] = folder
    init_args["save_dir"] = folder
    logger["init_args"] = init_args
