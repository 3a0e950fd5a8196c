"""Mail from the complaints service's own staff, as our receiving server delivers it."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid

from support.app import FROM_ADDRESS

SENT = "Verzonden items"
MX = "mx.gemeente.example"
VERIFIED = f"{MX}; dkim=pass header.d=gemeente.example; dmarc=pass header.from=gemeente.example"
RECEIVED = f"from mail.gemeente.example by {MX} with ESMTPS id 4Xy; Wed, 25 Nov 2026 09:00:01 +0100"


def staff_mail(
    sender: str,
    subject: str,
    body: str,
    *,
    to: str = FROM_ADDRESS,
    verified: bool = True,
    in_reply_to: str | None = None,
    attachment: tuple[str, str, bytes] | None = None,
) -> bytes:
    msg = EmailMessage()
    if verified:
        # As our receiving server delivers it: its results above its own trace line.
        msg["Authentication-Results"] = VERIFIED
        msg["Received"] = RECEIVED
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Wed, 25 Nov 2026 09:00:00 +0100"
    msg["Message-ID"] = make_msgid(domain="gemeente.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(body)
    if attachment:
        name, ctype, data = attachment
        main, sub = ctype.split("/")
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return msg.as_bytes(policy=SMTP)
