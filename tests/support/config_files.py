"""Config documents for the config and OAuth tests: the minimal valid one, with changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailbot.config import Config, ConfigError, load_config

MAILBOX_SECRET = "mailbox-Secret-7f3a"
SMTP_SECRET = "smtp-Secret-91bc"
ENV = {"MB_PASSWORD": MAILBOX_SECRET}


Table = dict[str, object]
Changes = dict[str, dict[str, object | None]]


def base_document() -> dict[str, Table]:
    return {
        "mailbox": {
            "host": "imap.gemeente.example",
            "username": "klachten@gemeente.example",
            "password_env": "MB_PASSWORD",
        },
        "smtp": {
            "host": "smtp.gemeente.example",
            "from_address": "klachten@gemeente.example",
        },
        "staff": {"coordinator": "coordinator@gemeente.example"},
    }


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(value)


def toml_text(document: dict[str, Table]) -> str:
    lines: list[str] = []
    for section, table in document.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in table.items())
        lines.append("")
    return "\n".join(lines)


def write_config(tmp_path: Path, changes: Changes | None = None, extra: str = "") -> Path:
    """The minimal valid configuration, with changes: a value of None removes the key."""
    document = base_document()
    for section, table in (changes or {}).items():
        target = document.setdefault(section, {})
        for key, value in table.items():
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
    path = tmp_path / "config.toml"
    path.write_text(toml_text(document) + extra, encoding="utf-8")
    return path


def load(
    tmp_path: Path, changes: Changes | None = None, env: dict[str, str] | None = None
) -> Config:
    return load_config(write_config(tmp_path, changes), env=ENV if env is None else env)


def problems(
    tmp_path: Path, changes: Changes | None = None, env: dict[str, str] | None = None
) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, changes, env)
    return caught.value.problems


def only_problem(
    tmp_path: Path, changes: Changes | None = None, env: dict[str, str] | None = None
) -> str:
    found = problems(tmp_path, changes, env)
    assert len(found) == 1, found
    return found[0]
