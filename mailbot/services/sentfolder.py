"""Which folder holds the mail sent from the shared mailbox (answers and trusted commands).

``[mailbox] sent_folder`` when set; otherwise the folder the server marks ``\\Sent``
(RFC 6154 SPECIAL-USE), else a commonly used name (Sent, Sent Items, Verzonden items, …).
Found once per process on the first IMAP connection that asks, then remembered.
"""

from __future__ import annotations

import logging
import threading

from mailbot.config import MailboxConfig
from mailbot.domain.ports import Mailbox

log = logging.getLogger(__name__)


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
