"""Warnings by mail to the coordinator and ops: the mailbox login fails, or an Azure client
secret is about to expire. Both are queued in the outbox like any other mail."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from mailbot.auth.expiry import MAIL_DAYS, secret_expiry_warning
from mailbot.config import Config
from mailbot.domain.ports import Clock
from mailbot.persistence.session import DatabaseError, Session, Sessions
from mailbot.services.outbox import Outbox

log = logging.getLogger(__name__)

__all__ = ["AlertService"]


@dataclass
class AlertService:
    config: Config
    sessions: Sessions
    outbox: Outbox
    clock: Clock

    def login_failed(self, error: Exception) -> bool:
        """Tell the coordinator (and ops) by mail, at most once a day: without a login no
        complaint is read and no citizen gets a receipt. False when it could not be queued."""
        now = self.clock()
        mailbox = self.config.mailbox
        day = now.astimezone(self.config.cases.timezone).date().isoformat()
        try:
            with self.sessions.begin() as session:
                self._notify_staff(
                    session,
                    "staff_login_failed",
                    key=("login-failed", day),
                    now=now,
                    since=now,
                    mailbox=f"{mailbox.username} op {mailbox.host}",
                    error=str(error),
                )
        except DatabaseError as exc:
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
                self._notify_staff(
                    session,
                    "staff_secret_expiry",
                    key=("secret-expiry", f"{expires.isoformat()}:{today.isoformat()}"),
                    now=now,
                    expires=expires,
                    days=days,
                    warning=warning,
                )

    def _notify_staff(
        self,
        session: Session,
        template: str,
        *,
        key: tuple[str, str],
        now: datetime,
        **values: object,
    ) -> None:
        """Queue `template` for the coordinator and ops, each once: the outbox key is
        ``kind:address:when`` for key = (kind, when)."""
        kind, when = key
        staff = self.config.staff
        for address in dict.fromkeys(a for a in (staff.coordinator, staff.ops) if a):
            self.outbox.notify(
                session,
                key=f"{kind}:{address}:{when}",
                template=template,
                to=address,
                now=now,
                context={**values, "config": str(self.config.path)},
            )
