"""The README's commands still parse: every `zoo <tool> …` line in the shell blocks of README.md and of
the pages under docs/ is handed to that tool's argument parser (and stopped there, so nothing runs),
and every `zoo fit --config` names a config file that exists. A renamed flag or config then fails
here, not in a reader's terminal."""

from __future__ import annotations

import argparse
import importlib
import shlex
from pathlib import Path

import pytest

from zoo.cli import TOOLS

REPO = Path(__file__).resolve().parents[1]


DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _shell_commands() -> list[tuple[str, str]]:
    """(file, command) for each `zoo …` command in the ```bash blocks of the README and the docs
    pages, one per `&&`-separated part."""
    commands = []
    for document in DOCUMENTS:
        name, language = document.relative_to(REPO).as_posix(), None
        for line in document.read_text().splitlines():
            if line.startswith("```"):
                language = None if language is not None else (line[3:].strip() or "text")
                continue
            if language in ("bash", "sh", "shell"):
                commands += [(name, part.strip()) for part in line.split("&&") if part.strip().startswith("zoo ")]
    return commands


FILE_COMMANDS = _shell_commands()
COMMANDS = [command for _, command in FILE_COMMANDS]
PLACEHOLDER = "some-value"  # what the README writes as "…"


class _Parsed(Exception):
    pass


def test_the_readme_has_commands_of_every_kind():
    """Over the README and the docs pages together; the README and docs/reproducing.md both hold commands."""
    tools = {shlex.split(command, comments=True)[1] for command in COMMANDS}
    assert {"fit", "reproduce", "compare", "latent", "eval"} <= tools
    files = {name for name, _ in FILE_COMMANDS}
    assert "README.md" in files and "docs/reproducing.md" in files, files


@pytest.mark.parametrize(
    "command", COMMANDS, ids=[f"{i}:{name}:{c.split('#')[0].strip()[:60]}" for i, (name, c) in enumerate(FILE_COMMANDS)]
)
def test_readme_command_parses(command, monkeypatch):
    words = [PLACEHOLDER if word == "…" else word for word in shlex.split(command, comments=True)]
    tool, args = words[1], words[2:]
    if tool == "fit":
        configs = [args[i + 1] for i, word in enumerate(args[:-1]) if word == "--config"]
        assert configs and all((REPO / config).is_file() for config in configs if config != PLACEHOLDER), command
        return
    assert tool in TOOLS, f"{command}: `zoo {tool}` is no command"
    parse = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        parse(self, args, namespace)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    with pytest.raises(_Parsed):
        importlib.import_module(TOOLS[tool]).main(args)
