"""``berth serve --scheduler-config PATH [--scheduler-strategy pack|spread]``: read and check.

The file is YAML (JSON, a subset, too; a ``.json`` file is read as JSON for JSON's clearer
error messages) and is checked whole by ``berth.scheduler.config_file`` in the command,
before the database is touched or gunicorn forks: any problem is a usage error (exit
code 2) that names the file and the key, never a traceback from a worker.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import click
import yaml

from berth.model.errors import InvalidError
from berth.scheduler.config import SchedulerConfig, Strategy
from berth.scheduler.config_file import parse_config

OPTION = "--scheduler-config"


def load(path: Path | None, strategy: str | None = None) -> SchedulerConfig:
    """The effective configuration: the file's (or the defaults), then ``strategy`` over it.

    Raises ``click.BadParameter`` naming the file and the offending key.
    """
    config = SchedulerConfig() if path is None else _read(path)
    if strategy is not None:
        config = replace(config, strategy=Strategy(strategy))
    return config


def _read(path: Path) -> SchedulerConfig:
    def bad(problem: str) -> click.BadParameter:
        return click.BadParameter(f"scheduler config {path}: {problem}", param_hint=OPTION)

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise bad(f"cannot read it: {exc}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise bad(f"cannot parse it: {exc}") from None
    try:
        return parse_config(data)
    except InvalidError as exc:
        raise bad(exc.message) from None
