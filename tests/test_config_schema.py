"""mailbot.config.schema: a plain key (one with a kind) is read without code of its own, so
every such key must be a field, with a default, of its section's dataclass."""

from __future__ import annotations

import dataclasses

import pytest

from mailbot.config import (
    CasesConfig,
    DaemonConfig,
    IntakeConfig,
    LoggingConfig,
    MailboxConfig,
    OutboxConfig,
    ReceiptsConfig,
    RemindersConfig,
    SmtpConfig,
)
from mailbot.config.schema import SCHEMA

SECTIONS: dict[str, type] = {
    "mailbox": MailboxConfig,
    "smtp": SmtpConfig,
    "daemon": DaemonConfig,
    "cases": CasesConfig,
    "reminders": RemindersConfig,
    "receipts": ReceiptsConfig,
    "outbox": OutboxConfig,
    "logging": LoggingConfig,
    "intake": IntakeConfig,
}


def test_only_sections_with_a_dataclass_have_plain_keys() -> None:
    with_kinds = {section for section, keys in SCHEMA.items() if any(k.kind for k in keys.values())}
    assert with_kinds <= set(SECTIONS)


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_plain_key_is_a_field_with_a_default(section: str) -> None:
    fields = {field.name: field for field in dataclasses.fields(SECTIONS[section])}
    for key, spec in SCHEMA[section].items():
        if spec.kind is None:
            continue
        assert key in fields, f"[{section}] {key} has a kind but {SECTIONS[section]} no field"
        assert fields[key].default is not dataclasses.MISSING, f"[{section}] {key}: no default"
