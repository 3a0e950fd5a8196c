"""What kind of machine mail an inbound mail is, if any: a pure decision on the parsed mail.

Machine mail never gets a receipt and never opens a case of its own; a bounce, an MDN or
an abuse report about one of our mails joins the case of that mail (``about_message_ids``).
Each rule names the RFC or the mail system whose mail it recognises. The facts come from
the parser (:mod:`mailbot.inbound.parse`): the report parts as attachments, the Message-IDs
of the originals a mail carries (``quoted_message_ids``) and the failed recipients that
flufl.bounce found (``bounce_recipients``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mailbot.domain.model import InboundMail

# "delivery-status": an RFC 3464 DSN in which no recipient failed (delayed, delivered,
# relayed, expanded: RFC 3464 §2.3.3); a "bounce" reports a failure.
MachineKind = Literal["bounce", "delivery-status", "mdn", "arf", "null-sender", "list", "autoreply"]


@dataclass(frozen=True)
class Machine:
    """The verdict on a machine mail: its kind, the rule that recognised it, and the
    Message-IDs (without angle brackets) of the mails it is about, most telling first."""

    kind: MachineKind
    rule: str
    about_message_ids: tuple[str, ...] = ()


_REPORT_TYPE = re.compile(r"""report-type\s*=\s*"?([A-Za-z0-9-]+)""", re.IGNORECASE)
# RFC 3464 §2.3.3 Action field of each recipient in a delivery-status part.
_DSN_ACTION = re.compile(rb"^Action[ \t]*:[ \t]*([A-Za-z-]+)", re.IGNORECASE | re.MULTILINE)
_DSN_PARTS = frozenset({"message/delivery-status", "message/global-delivery-status"})
_MDN_PARTS = frozenset(
    {"message/disposition-notification", "message/global-disposition-notification"}
)
_ORIGINAL_PARTS = frozenset(
    {"message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers"}
)
# Local parts and display names mail systems send bounces from (RFC 5321 §4.5.5 wants a
# null reverse-path; the From header still shows one of these).
_DAEMON_LOCALPART = re.compile(
    r"^(?:mailer-daemon|mailerdaemon|mail-daemon|postmaster|mdaemon|bounces?)$", re.IGNORECASE
)
_DAEMON_NAME = re.compile(
    r"mail delivery (?:system|subsystem|service)|mailer-daemon|system administrator",
    re.IGNORECASE,
)
# How non-standard bounces say who wrote them; names the dialect in the verdict's rule.
_DIALECTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("qmail failure notice", re.compile(r"This is the qmail-send program", re.IGNORECASE)),
    (
        "Exim bounce",
        re.compile(r"created automatically by mail delivery software", re.IGNORECASE),
    ),
    (
        "Postfix bounce",
        re.compile(r"This is the (?:Postfix program|mail system) at host", re.IGNORECASE),
    ),
    (
        "Exchange/Outlook NDR",
        re.compile(
            r"did not reach some or all of the intended recipients"
            r"|Delivery has failed to these recipients",
            re.IGNORECASE,
        ),
    ),
    (
        "Lotus Notes/Domino bounce",
        re.compile(r"not listed in (?:the )?(?:Domino Directory|public Name)", re.IGNORECASE),
    ),
    ("Yahoo bounce", re.compile(r"we were unable to deliver your message", re.IGNORECASE)),
    (
        "Gmail bounce",
        re.compile(r"Delivery to the following recipients? failed", re.IGNORECASE),
    ),
)
_AUTOREPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder")
_MAILMAN_DIGEST = re.compile(r"\bDigest, Vol \d+, Issue \d+", re.IGNORECASE)


def classify_machine(mail: InboundMail) -> Machine | None:
    """The kind of machine mail this is, with the rule that says so; None for human mail.

    Rules, most specific first: abuse report (RFC 5965), read receipt (RFC 8098),
    delivery status notification (RFC 3464, with or without report-type, from any
    sender: a bounce when a recipient failed, else a delay or success report),
    non-standard bounce (by its structure: flufl.bounce, X-Failed-Recipients, Exchange's
    NDR header, or a mail daemon sending back an original), list mail (ezmlm
    Mailing-List, Mailman, RFC 2919 List-Id, Precedence: list), auto-reply (RFC 3834
    Auto-Submitted and older headers), and finally a null sender (RFC 5321 Return-Path: <>).
    """
    about = _about(mail)
    for rule in (_report, _non_standard_bounce):
        verdict = rule(mail)
        if verdict is not None:
            return Machine(verdict[0], verdict[1], about)
    for rule in (_list_mail, _autoreply, _null_sender):
        verdict = rule(mail)
        if verdict is not None:
            return Machine(verdict[0], verdict[1], _replied_to(mail))
    return None


def _about(mail: InboundMail) -> tuple[str, ...]:
    """The originals a report carries first, then what the mail says it replies to."""
    ids = (*mail.quoted_message_ids, *mail.in_reply_to, *mail.references)
    return tuple(i for i in dict.fromkeys(ids) if i != mail.message_id)


def _replied_to(mail: InboundMail) -> tuple[str, ...]:
    ids = (*mail.in_reply_to, *mail.references)
    return tuple(i for i in dict.fromkeys(ids) if i != mail.message_id)


def _part_types(mail: InboundMail) -> set[str]:
    return {attachment.content_type for attachment in mail.attachments}


def _report(mail: InboundMail) -> tuple[MachineKind, str] | None:
    """multipart/report (RFC 6522) and its parts, also where report-type is missing."""
    match = _REPORT_TYPE.search(mail.header("Content-Type") or "")
    report_type = match.group(1).lower() if match else ""
    parts = _part_types(mail)
    if report_type == "feedback-report" or "message/feedback-report" in parts:
        return "arf", "RFC 5965 abuse feedback report (ARF)"
    if report_type == "disposition-notification" or parts & _MDN_PARTS:
        return "mdn", "RFC 8098 message disposition notification (MDN)"
    if report_type == "delivery-status" or parts & _DSN_PARTS:
        rule = "RFC 3464 delivery status notification (DSN)"
        if report_type != "delivery-status":
            rule += " without report-type"
        actions = _dsn_actions(mail)
        if actions and "failed" not in actions:
            # RFC 3464 §2.3.3: a delay warning or a success report, no failure.
            return "delivery-status", f"{rule}, action: {', '.join(sorted(actions))}"
        return "bounce", rule
    return None


def _dsn_actions(mail: InboundMail) -> set[str]:
    """The Action of each recipient in the delivery-status parts (RFC 3464 §2.3.3)."""
    actions: set[str] = set()
    for attachment in mail.attachments:
        if attachment.content_type in _DSN_PARTS:
            actions.update(
                a.decode("ascii").lower() for a in _DSN_ACTION.findall(attachment.content)
            )
    return actions


def _from_daemon(mail: InboundMail) -> bool:
    if mail.sender is None:
        return False
    local = mail.sender.email.rpartition("@")[0]
    return bool(_DAEMON_LOCALPART.match(local) or _DAEMON_NAME.search(mail.sender.name))


def _null_reverse_path(mail: InboundMail) -> bool:
    return any(value.strip() == "<>" for value in mail.header_all("Return-Path"))


def automatic_sender(mail: InboundMail) -> bool:
    """Sent by a program, not a person: null sender, a mail daemon, or RFC 3834. The
    parser runs flufl.bounce only on such mail (the only mail its finding counts for)."""
    auto = (mail.header("Auto-Submitted") or "no").split(";")[0].strip().lower() != "no"
    return auto or _null_reverse_path(mail) or _from_daemon(mail)


def _dialect(mail: InboundMail) -> str:
    text = mail.body_text
    for name, pattern in _DIALECTS:
        if pattern.search(text):
            return name
    if mail.header("X-MS-Exchange-Message-Is-Ndr") is not None:
        return "Exchange/Outlook NDR"
    return "non-standard bounce"


def _non_standard_bounce(mail: InboundMail) -> tuple[MachineKind, str] | None:
    """Bounces that are no DSN, recognised by their structure, never by subject words."""
    if mail.header("X-Failed-Recipients") is not None:
        evidence = "X-Failed-Recipients header"  # set only by MTAs (Exim, Gmail)
    elif mail.header("X-MS-Exchange-Message-Is-Ndr") is not None:
        evidence = "X-MS-Exchange-Message-Is-Ndr header"
    elif mail.bounce_recipients and automatic_sender(mail):
        # flufl.bounce alone would also take a citizen's forward of a bounce for one.
        evidence = "failed recipients found by flufl.bounce"
    elif (_null_reverse_path(mail) or _from_daemon(mail)) and (
        _part_types(mail) & _ORIGINAL_PARTS or mail.quoted_message_ids
    ):
        evidence = "a mail system returns an original"
    else:
        return None
    return "bounce", f"{_dialect(mail)} ({evidence})"


def _list_mail(mail: InboundMail) -> tuple[MachineKind, str] | None:
    if mail.header("Mailing-List") is not None:
        return "list", "ezmlm list mail (Mailing-List header)"
    if mail.header("X-Mailman-Version") is not None:
        if _MAILMAN_DIGEST.search(mail.subject):
            return "list", "Mailman digest"
        return "list", "Mailman list mail (X-Mailman-Version header)"
    if mail.header("List-Id") is not None:
        return "list", "RFC 2919 list mail (List-Id header)"
    if (mail.header("Precedence") or "").strip().lower() == "list":
        return "list", "list mail (Precedence: list)"
    return None


def _autoreply(mail: InboundMail) -> tuple[MachineKind, str] | None:
    value = mail.header("Auto-Submitted")
    if value is not None and value.split(";")[0].strip().lower() != "no":
        return "autoreply", f"RFC 3834 Auto-Submitted: {value.split(';')[0].strip().lower()}"
    for header in _AUTOREPLY_HEADERS:
        if mail.header(header) is not None:
            return "autoreply", f"auto-reply ({header} header)"
    if (mail.header("Precedence") or "").strip().lower() == "auto_reply":
        return "autoreply", "auto-reply (Precedence: auto_reply)"
    return None


def _null_sender(mail: InboundMail) -> tuple[MachineKind, str] | None:
    if _null_reverse_path(mail):
        return "null-sender", "RFC 5321 §4.5.5 null reverse-path (Return-Path: <>)"
    return None
