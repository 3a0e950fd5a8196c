"""mailbot.domain.machine.classify_machine over tests/corpus/machine (issue 12 §1).

Each mail in the corpus names its RFC or mail system in expected.toml beside it; the test
parses it as intake does and checks the verdict: the kind, the rule, and the Message-ID of
our original mail that a bounce, an MDN or an abuse report is about.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from mailbot.domain.machine import Machine, classify_machine
from mailbot.domain.model import Address, Attachment, InboundMail
from mailbot.inbound.parse import parse_mail

CORPUS = Path(__file__).parent / "corpus" / "machine"
EXPECTED = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))


def test_every_corpus_mail_has_an_expectation() -> None:
    assert sorted(p.stem for p in CORPUS.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_verdict(name: str) -> None:
    expected = EXPECTED[name]
    verdict = classify_machine(parse_mail((CORPUS / f"{name}.eml").read_bytes()))
    if not expected["kind"]:
        assert verdict is None, expected["source"]
        return
    assert verdict is not None, expected["source"]
    assert verdict.kind == expected["kind"]
    assert expected["rule"] in verdict.rule
    if expected["about"]:
        assert verdict.about_message_ids[0] == expected["about"]


# --- pure units on a hand-made InboundMail ----------------------------------------------------

HUMAN = InboundMail(
    sender=Address("jan@example.be", "Jan"),
    reply_to=(),
    to=(Address("klachten@gemeente.example"),),
    cc=(),
    subject="Straatlamp",
    date=None,
    message_id="h1@example.be",
    in_reply_to=(),
    references=(),
    body_text="De lamp is stuk.",
    attachments=(),
    headers=(("From", "Jan <jan@example.be>"), ("Subject", "Straatlamp")),
)


def with_headers(*headers: tuple[str, str], **changes: object) -> InboundMail:
    return replace(HUMAN, headers=HUMAN.headers + headers, **changes)  # type: ignore[arg-type]


def test_human_mail_is_no_machine_mail() -> None:
    assert classify_machine(HUMAN) is None


def test_verdict_is_a_small_frozen_value() -> None:
    verdict = classify_machine(with_headers(("Return-Path", "<>")))
    assert verdict == Machine("null-sender", verdict.rule if verdict else "", ())
    with pytest.raises(AttributeError):
        verdict.kind = "list"  # type: ignore[misc]


def test_auto_submitted_no_is_human() -> None:
    # RFC 3834 §5.1: "no" means the mail was written by a person.
    assert classify_machine(with_headers(("Auto-Submitted", "no"))) is None


def test_flufl_finding_needs_an_automatic_sender() -> None:
    found = with_headers(bounce_recipients=("x@example.be",))
    assert classify_machine(found) is None
    from_daemon = replace(found, sender=Address("mailer-daemon@mx.example.be"))
    verdict = classify_machine(from_daemon)
    assert verdict is not None and verdict.kind == "bounce"
    assert "flufl.bounce" in verdict.rule


def test_a_delayed_dsn_is_no_bounce_and_says_so_in_its_rule() -> None:

    part = Attachment(
        "x", "message/delivery-status", b"Final-Recipient: rfc822; a@b\nAction: delayed\n"
    )
    verdict = classify_machine(replace(HUMAN, attachments=(part,)))
    # No recipient failed: a delay warning, not a bounce (RFC 3464 §2.3.3).
    assert verdict is not None and verdict.kind == "delivery-status"
    assert verdict.rule.endswith("action: delayed")
    failed = Attachment("x", "message/delivery-status", b"Action: delayed\nAction: failed\n")
    verdict = classify_machine(replace(HUMAN, attachments=(failed,)))
    assert verdict is not None and verdict.kind == "bounce"


def test_precedence_list_and_list_id_are_list_mail() -> None:
    for header in (("List-Id", "Buurt <buurt.lists.example>"), ("Precedence", "list")):
        verdict = classify_machine(with_headers(header))
        assert verdict is not None and verdict.kind == "list"


def test_autoreply_is_about_what_it_replies_to() -> None:
    verdict = classify_machine(
        with_headers(("X-Autoreply", "yes"), in_reply_to=("ours.mailbot@gemeente.example",))
    )
    assert verdict == Machine(
        "autoreply", "auto-reply (X-Autoreply header)", ("ours.mailbot@gemeente.example",)
    )


def test_a_folded_message_id_quoted_in_a_bounce_is_found() -> None:
    # RFC 5322 §2.2.3: a relay may fold the quoted original's Message-ID onto its own
    # line; the bounce is still about that mail.
    raw = (
        b"Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.burger.example\r\n"
        b"To: klachten@gemeente.example\r\nSubject: failure notice\r\nMessage-ID: <q1@mx>\r\n"
        b"\r\nHi. This is the qmail-send program at mx.burger.example.\r\n"
        b"I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
        b"\r\n<tipo@burger.example>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n\r\n"
        b"--- Below this line is a copy of the message.\r\n\r\n"
        b"From: klachten@gemeente.example\r\nSubject: Ontvangstmelding\r\n"
        b"Message-ID:\r\n <176.1.2.mailbot@gemeente.example>\r\n\r\nBeste\r\n"
    )
    verdict = classify_machine(parse_mail(raw))
    assert verdict is not None and verdict.kind == "bounce"
    assert verdict.about_message_ids == ("176.1.2.mailbot@gemeente.example",)
