"""Which folder holds the mail sent from the shared mailbox (answers and trusted commands).

``[mailbox] sent_folder`` when set; otherwise the folder the server marks ``\\Sent``
(RFC 6154 SPECIAL-USE), else a commonly used name (Sent, Sent Items, Verzonden items, …).
Found once per process on the first IMAP connection that asks, then remembered. How far
the folder was read is kept in the database (`persistence/mailbox.py` `folder_state`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mailbot.config import MailboxConfig
from mailbot.domain.errors import MailbotError
from mailbot.domain.ports import Mailbox
from mailbot.persistence.mailbox import folder_state, set_folder_state
from mailbot.persistence.session import Sessions
from mailbot.persistence.tables import FolderStateRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentRescan:
    """What `mailbot sent rescan` arranged: the next pass reads `waiting` mails of
    `folder` again (those after uid `after`)."""

    folder: str
    after: int
    waiting: int


class SentFolder:
    def __init__(self, config: MailboxConfig) -> None:
        self.configured = config.sent_folder
        # Never one of mailbot's own folders, whatever the server calls it.
        self._own = {config.folder, config.processed_folder, config.quarantine_folder}
        self._found: str | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str | None:
        """The folder watched, as far as known now (None: none configured or found yet)."""
        return self.configured or self._found

    def find(self, mailbox: Mailbox) -> str | None:
        """The folder to watch: the configured one, or the one found on the server."""
        if self.configured:
            return self.configured
        with self._lock:
            if self._found is None:
                found = mailbox.find_sent_folder()
                if found is not None and found not in self._own:
                    log.info("sent folder: watching %s (found on the server)", found)
                    self._found = found
            return self._found

    def unread(
        self, sessions: Sessions, folder: str, uidvalidity: int, uids: Sequence[int]
    ) -> list[int]:
        """The folder's messages mailbot has not read yet. The first time it sees the
        folder it starts from now: years of old sent mail are not the coordinator's
        commands for today."""
        with sessions.begin() as session:
            state = folder_state(session, folder)
            if state is None or state.uidvalidity != uidvalidity:
                last = max(uids, default=0)
                if state is None:
                    session.add(
                        FolderStateRow(folder=folder, uidvalidity=uidvalidity, last_uid=last)
                    )
                    log.info("intake: watching %s from uid %s on", folder, last + 1)
                    return []
                # UIDVALIDITY changed (the folder was rebuilt): read it again; Message-IDs
                # already stored are recognised as duplicates.
                state.uidvalidity, state.last_uid = uidvalidity, 0
            return [u for u in uids if u > state.last_uid]

    def rescan(self, mailbox: Mailbox, sessions: Sessions, since: datetime) -> SentRescan:
        """Make the next pass read the folder's mail from the day of `since` on, e.g. the
        answers that were already there when the folder was first watched. Mail already
        stored (same Message-ID or content) is recognised as a duplicate."""
        folder = self.find(mailbox)
        if folder is None:
            raise MailbotError(
                "no sent folder configured or found on the server: set [mailbox] sent_folder"
            )
        uidvalidity, uids = mailbox.open_folder(folder)
        older = set(mailbox.uids_before(folder, since))
        since_then = [u for u in uids if u not in older]
        after = min(since_then) - 1 if since_then else max(uids, default=0)
        with sessions.begin() as session:
            set_folder_state(session, folder, uidvalidity, after)
        log.info("intake: %s is read again from uid %s on", folder, after + 1)
        return SentRescan(folder, after, sum(1 for u in uids if u > after))
