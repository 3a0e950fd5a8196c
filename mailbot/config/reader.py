"""Reading the file: TOML in, a checked :class:`Config` out, or every problem at once.

Each problem names the file, the key as ``[section] key`` and what to write instead.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mailbot.config import sections
from mailbot.config.model import (
    ENV_CONFIG,
    Config,
    ConfigError,
    DaemonConfig,
    IntakeConfig,
    LoggingConfig,
    ReceiptsConfig,
)
from mailbot.config.schema import SCHEMA
from mailbot.config.values import Source, Table, got

_TOML_POSITION = re.compile(r"^(.*) \(at line (\d+), column (\d+)\)$", re.DOTALL)
_TOML_END = re.compile(r"^(.*) \(at end of document\)$", re.DOTALL)


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    secrets: bool = True,
) -> Config:
    """Read and check the configuration file.

    ``path`` defaults to ``env["MAILBOT_CONFIG"]``; ``env`` defaults to ``os.environ`` and is
    also where ``password_env`` and ``$CREDENTIALS_DIRECTORY`` are looked up.
    ``secrets=False`` reads no secret at all (they stay empty): for the commands that
    connect to no mail server, run by users who may not read the secrets.
    Raises :class:`ConfigError` with every problem found.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    if path is None:
        from_env = environ.get(ENV_CONFIG, "")
        if not from_env:
            raise ConfigError(
                [
                    "no configuration file given: pass --config /etc/mailbot/config.toml "
                    f"or set {ENV_CONFIG}=/etc/mailbot/config.toml "
                    "(start from config.example.toml)"
                ]
            )
        path = from_env
    label = os.fspath(path)
    absolute = Path(os.path.abspath(label))
    document = _read_toml(absolute, label)
    source = Source(label, absolute.parent, environ, secrets=secrets)
    config = _build(source, absolute, document)
    if source.problems:
        raise ConfigError(source.problems)
    return config


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            [
                f"{label}: no such file; to start, copy config.example.toml (shipped with "
                f"mailbot) to {label} and fill in [mailbox], [smtp] and [staff]"
            ]
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            [f"{label}: is a directory; expected the path of the TOML configuration file"]
        ) from None
    except OSError as exc:
        raise ConfigError([f"{label}: cannot read the file: {exc.strerror}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [f"{label}: line {line}: not valid UTF-8; save the file as UTF-8 text"]
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(label, str(exc))]) from None


def _syntax_problem(label: str, message: str) -> str:
    hint = ""
    if message.startswith("Invalid value"):
        hint = '; text needs quotes, e.g. host = "imap.example.be"'
    elif message.startswith(("Unterminated", "Unclosed")):
        hint = "; a quote or bracket is not closed"
    elif message.startswith(("Cannot overwrite", "Cannot declare")):
        hint = "; a key or section appears twice"
    position = _TOML_POSITION.match(message)
    if position is not None:
        what, line, column = position.groups()
        return f"{label}: line {line}, column {column}: invalid TOML: {what}{hint}"
    end = _TOML_END.match(message)
    if end is not None:
        return f"{label}: at the end of the file: invalid TOML: {end.group(1)}{hint}"
    return f"{label}: invalid TOML: {message}{hint}"


def _build(source: Source, path: Path, document: Mapping[str, Any]) -> Config:
    _check_top_level(source, document)
    tables = {name: _table(source, document, name) for name in SCHEMA}
    mailbox = sections.mailbox(tables["mailbox"])
    smtp = sections.smtp(tables["smtp"])
    return Config(
        path=path,
        mailbox=mailbox,
        smtp=smtp,
        database=sections.database(tables["database"]),
        staff=sections.staff(tables["staff"], tables["services"]),
        cases=sections.cases(tables["cases"]),
        receipts=sections.plain(tables["receipts"], ReceiptsConfig),
        intake=sections.plain(tables["intake"], IntakeConfig),
        outbox=sections.outbox(tables["outbox"]),
        templates=sections.templates(tables["templates"]),
        logging=sections.plain(tables["logging"], LoggingConfig),
        reminders=sections.reminders(tables["reminders"]),
        form=sections.form(tables["form"]),
        retention=sections.retention(tables["retention"]),
        daemon=sections.plain(tables["daemon"], DaemonConfig),
        triage=sections.triage(tables["triage"]),
    )


def _check_top_level(source: Source, document: Mapping[str, Any]) -> None:
    for name, value in document.items():
        if name in SCHEMA:
            continue
        if isinstance(value, dict):
            match = difflib.get_close_matches(name, list(SCHEMA), n=1)
            hint = (
                f"did you mean [{match[0]}]?"
                if match
                else "known sections: " + ", ".join(f"[{s}]" for s in SCHEMA)
            )
            source.problems.append(f"{source.label}: [{name}]: unknown section; {hint}")
        else:
            owners = [section for section, keys in SCHEMA.items() if name in keys]
            hint = (
                "it belongs in " + " or ".join(f"[{s}]" for s in owners)
                if owners
                else "every key belongs in a section such as [mailbox]"
            )
            source.problems.append(
                f"{source.label}: {name}: unknown key outside any section; {hint}"
            )


def _table(source: Source, document: Mapping[str, Any], name: str) -> Table:
    value = document.get(name, {})
    if not isinstance(value, dict):
        source.problems.append(
            f"{source.label}: [{name}]: expected a section, written as [{name}] on a line of "
            f"its own with its keys below; {got(value, secret=True)}"
        )
        value = {}
    table = Table(source, name, value)
    if name != "services":  # [services] keys are the names of the services
        table.check_unknown()
    return table
