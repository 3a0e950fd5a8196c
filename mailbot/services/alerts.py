"""Warnings by mail to the coordinator and ops: the mailbox login fails, or an Azure client
secret is about to expire. Both are queued in the outbox like any other mail."""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mailbot.auth.expiry import MAIL_DAYS, secret_expiry_warning
from mailbot.config import Config
from mailbot.domain.ports import Clock
from mailbot.services.outbox import Outbox

log = logging.getLogger(__name__)

__all__ = ["AlertService"]


class AlertService:
    def __init__(
        self, config: Config, sessions: sessionmaker[Session], outbox: Outbox, clock: Clock
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.outbox = outbox
        self.clock = clock

    def _recipients(self) -> list[str]:
        staff = self.config.staff
        return list(dict.fromkeys(a for a in (staff.coordinator, staff.ops) if a))

    def login_failed(self, error: Exception) -> bool:
        """Tell the coordinator (and ops) by mail, at most once a day: without a login no
        complaint is read and no citizen gets a receipt. False when it could not be queued."""
        now = self.clock()
        mailbox = self.config.mailbox
        try:
            with self.sessions.begin() as session:
                for address in self._recipients():
                    day = now.astimezone(self.config.cases.timezone).date().isoformat()
                    self.outbox.notify(
                        session,
                        key=f"login-failed:{address}:{day}",
                        template="staff_login_failed",
                        to=address,
                        now=now,
                        since=now,
                        mailbox=f"{mailbox.username} op {mailbox.host}",
                        error=str(error),
                        config=str(self.config.path),
                    )
        except SQLAlchemyError as exc:
            log.warning("intake: could not queue the login warning: %s", exc)
            return False
        return True

    def expiring_secrets(self) -> None:
        """Mail the coordinator and ops when an Azure client secret is about to expire:
        30, 14, 7, 3 and 1 days before, on the day, and daily once it has expired."""
        now = self.clock()
        today = now.astimezone(self.config.cases.timezone).date()
        warned: set[date] = set()
        for section in (self.config.mailbox, self.config.smtp):
            expires = getattr(section.oauth, "secret_expires", None)
            if expires is None or expires in warned:
                continue
            warned.add(expires)
            days = (expires - today).days
            warning = secret_expiry_warning(expires, today)
            if warning is None or (days > 0 and days not in MAIL_DAYS):
                continue
            log.warning("oauth: %s", warning)
            with self.sessions.begin() as session:
                for address in self._recipients():
                    self.outbox.notify(
                        session,
                        key=f"secret-expiry:{address}:{expires.isoformat()}:{today.isoformat()}",
                        template="staff_secret_expiry",
                        to=address,
                        now=now,
                        expires=expires,
                        days=days,
                        warning=warning,
                        config=str(self.config.path),
                    )
