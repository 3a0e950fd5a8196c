"""A citizen's rights under the GDPR: access (art. 15) and erasure (art. 17).

Both are logged by case reference only: the address itself never reaches the journal.
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailbot.config import Config
from mailbot.domain.ports import Clock
from mailbot.inbound.imap import ImapMailbox
from mailbot.persistence.records import (
    CitizenData,
    StoredMail,
    citizen_data,
    erase_citizen,
    scrub_free_space,
    secure_delete,
)

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Found:
    cases: tuple[str, ...]
    mails: int


@dataclass(frozen=True)
class Erased:
    cases: tuple[str, ...]
    items: int
    removed_from_mailbox: int


def _safe(name: str, fallback: str) -> str:
    cleaned = _UNSAFE.sub("_", name).strip("._")
    return cleaned[:80] or fallback


def _case_json(data: CitizenData, tz: Any) -> list[dict[str, Any]]:
    return [
        {
            "reference": c.reference,
            "channel": c.channel,
            "state": c.state,
            "name": c.citizen_name,
            "email": c.citizen_email,
            "address": c.citizen_address,
            "subject": c.subject,
            "received_at": c.received_at.astimezone(tz).isoformat(),
            "deadline": c.deadline.isoformat(),
            "service": c.service,
            "admissible": c.admissible,
            "inadmissible_reason": c.inadmissible_reason,
            "outcome": c.outcome,
            "answered_at": c.answered_at.astimezone(tz).isoformat() if c.answered_at else None,
            "closed_at": c.closed_at.astimezone(tz).isoformat() if c.closed_at else None,
        }
        for c in data.cases
    ]


def _write_mail(archive: zipfile.ZipFile, index: int, mail: StoredMail, tz: Any) -> dict[str, Any]:
    folder = f"{mail.reference or 'zonder-dossier'}/{index:03d}-{mail.direction}-{mail.kind}"
    entry: dict[str, Any] = {
        "case": mail.reference,
        "kind": mail.kind,
        "direction": mail.direction,
        "at": mail.at.astimezone(tz).isoformat(),
        "subject": mail.subject,
        "from": mail.sender,
        "to": mail.recipients,
        "attachments": [],
    }
    if mail.raw is not None:
        entry["eml"] = f"{folder}.eml"
        archive.writestr(entry["eml"], mail.raw)
    elif mail.body_text:
        entry["text"] = f"{folder}.txt"
        archive.writestr(entry["text"], mail.body_text)
    for number, (filename, content_type, content) in enumerate(mail.attachments, start=1):
        path = f"{folder}-bijlagen/{number:02d}-{_safe(filename, 'bijlage')}"
        archive.writestr(path, content)
        entry["attachments"].append(
            {"filename": filename, "content_type": content_type, "file": path}
        )
    return entry


def export(
    sessions: sessionmaker[Session], config: Config, address: str, out: Path, now: datetime
) -> Found:
    """Everything stored about `address` in one zip: summary.json, the mails as .eml (notes
    and letters without an original as .txt) and the attachments, per case."""
    tz = config.cases.timezone
    with sessions() as session:
        data = citizen_data(session, address.strip())
        cases = _case_json(data, tz)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            mails = [_write_mail(archive, i, m, tz) for i, m in enumerate(data.mails, start=1)]
            summary = {
                "about": address.strip(),
                "made_at": now.astimezone(tz).isoformat(),
                "controller": config.smtp.from_name or config.smtp.from_address,
                "cases": cases,
                "mails": mails,
            }
            archive.writestr(
                "overzicht.json", json.dumps(summary, ensure_ascii=False, indent=2) + "\n"
            )
    found = Found(tuple(c["reference"] for c in cases), len(mails))
    log.info(
        "privacy: access export of %s case(s) (%s) and %s mail(s)",
        len(found.cases),
        ", ".join(found.cases) or "-",
        found.mails,
    )
    return found


def preview(sessions: sessionmaker[Session], address: str) -> Found:
    with sessions() as session:
        data = citizen_data(session, address.strip())
        return Found(tuple(c.reference for c in data.cases), len(data.mails))


def erase(
    sessions: sessionmaker[Session],
    engine: Engine,
    mailbox: Callable[[], ImapMailbox],
    config: Config,
    address: str,
    clock: Clock,
) -> Erased:
    """First the originals in the processed and quarantine folders (while the database
    still knows their Message-IDs) and any quarantined mail that names the address, then
    the database, then SQLite's free pages and WAL."""
    address = address.strip()
    with sessions() as session:
        originals = citizen_data(session, address).originals
    managed = {config.mailbox.processed_folder, config.mailbox.quarantine_folder}
    by_folder: dict[str, list[str]] = defaultdict(list)
    for folder, message_id in originals:
        if folder in managed:
            by_folder[folder].append(message_id)
    removed = 0
    with mailbox() as imap:
        for folder in sorted(managed):
            removed += imap.delete_by_message_id(folder, by_folder.get(folder, []))
        # unreadable mail has no Message-ID of its own to find it by
        removed += imap.delete_mentioning(config.mailbox.quarantine_folder, address)
    with sessions.begin() as session:
        secure_delete(session)
        done = erase_citizen(session, address, clock())
    scrub_free_space(engine)
    log.info(
        "privacy: erased on request: %s case(s) (%s), %s stored mail(s), %s staff notice(s), "
        "%s original(s) in the mailbox; closed because erased: %s",
        len(done.cases),
        ", ".join(done.cases) or "-",
        done.items,
        done.notices,
        removed,
        ", ".join(done.closed) or "-",
    )
    return Erased(done.cases, done.items, removed)
