"""When the Azure client secret needs renewing: the facts behind the operator warnings."""

from __future__ import annotations

from datetime import date
from typing import Final

__all__ = ["MAIL_DAYS", "SECRET_WARN_DAYS", "secret_expiry_warning"]

#: warn this many days before the Azure client secret expires
SECRET_WARN_DAYS: Final = 30
#: before expiry, the warning is mailed on these days only (on the day and after: daily)
MAIL_DAYS: Final = (30, 14, 7, 3, 1)


def secret_expiry_warning(
    expires: date | None, today: date, warn_days: int = SECRET_WARN_DAYS
) -> str | None:
    """An operator warning when the Azure client secret expires within warn_days, else None."""
    if expires is None:
        return None
    renew = (
        "create a new client secret under Certificates & secrets of the app registration, "
        "put its Value in oauth_client_secret and its expiry date in oauth_secret_expires"
    )
    days = (expires - today).days
    if days < 0:
        return f"the Azure client secret expired on {expires.isoformat()}: {renew}"
    if days == 0:
        return f"the Azure client secret expires today ({expires.isoformat()}): {renew}"
    if days <= warn_days:
        unit = "day" if days == 1 else "days"
        return (
            f"the Azure client secret expires on {expires.isoformat()}, in {days} {unit}: {renew}"
        )
    return None
