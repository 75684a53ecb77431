"""The README's commands still parse: every `zoo <tool> …` line in its shell blocks is handed to that
tool's argument parser (and stopped there, so nothing runs), and every `zoo fit --config` names a
config file that exists. A renamed flag or config then fails here, not in a reader's terminal."""

from __future__ import annotations

import argparse
import importlib
import shlex
from pathlib import Path

import pytest

from zoo.cli import TOOLS

REPO = Path(__file__).resolve().parents[1]


def _shell_commands() -> list[str]:
    """`zoo …` commands in the README's ```bash blocks, one per `&&`-separated part."""
    commands, language = [], None
    for line in (REPO / "README.md").read_text().splitlines():
        if line.startswith("```"):
            language = None if language is not None else (line[3:].strip() or "text")
            continue
        if language in ("bash", "sh", "shell"):
            commands += [part.strip() for part in line.split("&&") if part.strip().startswith("zoo ")]
    return commands


COMMANDS = _shell_commands()
PLACEHOLDER = "some-value"  # what the README writes as "…"


class _Parsed(Exception):
    pass


def test_the_readme_has_commands_of_every_kind():
    tools = {shlex.split(command, comments=True)[1] for command in COMMANDS}
    assert {"fit", "reproduce", "compare", "latent", "eval"} <= tools


@pytest.mark.parametrize("command", COMMANDS, ids=[f"{i}:{c.split('#')[0].strip()[:60]}" for i, c in enumerate(COMMANDS)])
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
