"""The citizen's complaint as the intake tests send it, and who received what."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid

from harness import ReceivedMail, SmtpSink

from support.app import FROM_ADDRESS

ARRIVED = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)  # 10:15 in Brussels


def complaint(
    name: str,
    address: str,
    subject: str,
    body: str = "Goedemiddag,\n\nIk wacht al drie weken op een antwoord van de dienst.\n",
    *,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
    html: str | None = None,
    attachment: tuple[str, str, bytes] | None = None,
) -> bytes:
    """A citizen's complaint to FROM_ADDRESS, as IMAP stores it (CRLF)."""
    msg = EmailMessage()
    msg["From"] = f"{name} <{address}>" if name else address
    msg["To"] = FROM_ADDRESS
    msg["Subject"] = subject
    msg["Date"] = "Tue, 24 Nov 2026 10:00:00 +0100"
    msg["Message-ID"] = message_id or make_msgid(domain="burger.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for key, value in (headers or {}).items():
        msg[key] = value
    if html is not None:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(body)
    if attachment is not None:
        filename, ctype, data = attachment
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=SMTP)  # CRLF, as mail travels and as IMAP stores it


def body_text(mail: ReceivedMail | EmailMessage, subtype: str = "plain") -> str:
    """The text/plain (or text/html) body of a mail, as its reader sees it."""
    message = mail.message if isinstance(mail, ReceivedMail) else mail
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} body in:\n{message}"
    return str(part.get_content())


def by_recipient(smtp: SmtpSink, address: str) -> list[ReceivedMail]:
    """The mails the sink accepted for address (one of their RCPT TOs)."""
    return [m for m in smtp.messages if address in m.rcpt_tos]


def bounce_of(receipt: ReceivedMail) -> bytes:
    """The DSN (RFC 3464) a receiving server returns for one of our receipts: failed,
    5.1.1, the receipt's headers quoted in a text/rfc822-headers part."""
    recipient = receipt.rcpt_tos[0]
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.gemeente.example>\r\n"
        f"To: {FROM_ADDRESS}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "Message-ID: <dsn1@mx.gemeente.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        "\r\n--b1\r\nContent-Type: text/plain\r\n\r\n"
        "This is the mail system. Your message could not be delivered.\r\n"
        "\r\n--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.gemeente.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "\r\n--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {FROM_ADDRESS}\r\nTo: {recipient}\r\n"
        f"Subject: {receipt.subject}\r\nMessage-ID: {receipt.message['Message-ID']}\r\n"
        "\r\n--b1--\r\n"
    ).encode()
