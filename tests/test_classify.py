"""The decision for each kind of mail, as a pure function: no servers, no database.

The end-to-end tests (test_intake.py, test_coordinator.py, ...) show the same rules through
Dovecot and the SMTP sink; these show each rule alone, and the order between them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pytest

from mailbot.domain.autoreply import ReplyPolicy
from mailbot.domain.classify import (
    Bounce,
    CaseView,
    Decision,
    Duplicate,
    Earlier,
    FollowUp,
    Form,
    Ignore,
    IntakeRules,
    NewCase,
    RefusedCommands,
    SentAnswer,
    StaffCommands,
    classify,
)
from mailbot.domain.commands import CommandName
from mailbot.domain.model import Address, InboundMail

DOMAIN = "gemeente.example"
COORDINATOR = f"klachtencoordinator@{DOMAIN}"
MX = "mx.gemeente.example"
CASE = CaseView(7, "KL-2026-0007", "an.peeters@telenet.example")
RULES = IntakeRules(
    staff=frozenset({COORDINATOR}),
    authserv_ids=frozenset({MX}),
    sent_folder="Verzonden items",
    message_id_domain=DOMAIN,
    reply_policy=ReplyPolicy(frozenset({f"klachten@{DOMAIN}"}), DOMAIN),
    form_sender=f"noreply@website.{DOMAIN}",
)
PASS = (("Authentication-Results", f"{MX}; dmarc=pass header.from={DOMAIN}"),)


@dataclass
class Stored:
    """A fake of what the database knows: the case the mail threads into, and whether
    its Message-ID was seen."""

    seen_ids: dict[str, Earlier] = field(default_factory=dict)
    thread: CaseView | None = None
    bounced: CaseView | None = None

    def earlier(self, mail: InboundMail) -> Earlier | None:
        return self.seen_ids.get(mail.message_id)

    def thread_case(self, mail: InboundMail) -> CaseView | None:
        return self.thread

    def case_of(self, message_ids: Sequence[str]) -> CaseView | None:
        return self.bounced if f"receipt-7.mailbot@{DOMAIN}" in message_ids else None


def mail(
    sender: str = "an.peeters@telenet.example",
    body: str = "Er ligt al weken afval in de Kerkstraat.",
    subject: str = "Afval Kerkstraat",
    to: Sequence[str] = (f"klachten@{DOMAIN}",),
    headers: Sequence[tuple[str, str]] = (),
    message_id: str = "m1@telenet.example",
) -> InboundMail:
    return InboundMail(
        sender=Address(sender),
        reply_to=(),
        to=tuple(Address(a) for a in to),
        cc=(),
        subject=subject,
        date=None,
        message_id=message_id,
        in_reply_to=(),
        references=(),
        body_text=body,
        attachments=(),
        headers=(*headers, ("From", sender)),
    )


def decide(m: InboundMail, known: Stored | None = None, folder: str = "INBOX") -> Decision:
    return classify(m, folder, known or Stored(), RULES)


def test_a_citizens_first_mail_opens_a_case_with_a_receipt() -> None:
    assert decide(mail()) == NewCase(no_receipt=None)


def test_the_same_mail_again_is_a_duplicate_before_anything_else() -> None:
    seen = Stored(seen_ids={"m1@telenet.example": Earlier("new_case", "")})
    assert isinstance(decide(mail(), seen), Duplicate)


def test_a_refused_command_is_carried_out_from_its_trusted_copy() -> None:
    refused = Stored(seen_ids={"m1@telenet.example": Earlier("no_case", RefusedCommands.reason)})
    command = mail(sender=COORDINATOR, body="#ontvankelijk")
    assert isinstance(decide(command, refused), Duplicate)  # the same unproven copy again
    in_sent = decide(command, refused, "Verzonden items")
    assert isinstance(in_sent, StaffCommands) and in_sent.trusted_by == "sent folder"
    vouched = mail(sender=COORDINATOR, body="#ontvankelijk", headers=PASS)
    assert isinstance(decide(vouched, refused), StaffCommands)


def test_a_reply_in_a_known_thread_is_a_follow_up() -> None:
    assert decide(mail(), Stored(thread=CASE)) == FollowUp(CASE, automatic=False)


def test_an_out_of_office_in_a_known_thread_is_recorded_as_automatic() -> None:
    auto = mail(headers=[("Auto-Submitted", "auto-replied")])
    assert decide(auto, Stored(thread=CASE)) == FollowUp(CASE, automatic=True)


def test_an_out_of_office_without_a_case_opens_nothing() -> None:
    decision = decide(mail(headers=[("Auto-Submitted", "auto-replied")]))
    assert isinstance(decision, Ignore) and "Auto-Submitted" in decision.reason


def test_a_mailing_list_mail_opens_a_case_but_gets_no_receipt() -> None:
    decision = decide(mail(headers=[("List-Id", "<buren.example>")]))
    assert isinstance(decision, NewCase) and decision.no_receipt == "mailing list (List-Id)"


def test_our_own_mail_coming_back_opens_nothing() -> None:
    decision = decide(mail(sender=f"klachten@{DOMAIN}"))
    assert decision == Ignore("our own mail came back")


def test_a_bounce_joins_the_case_of_the_mail_it_quotes() -> None:
    bounce = mail(
        sender="MAILER-DAEMON@telenet.example",
        subject="Undelivered Mail Returned to Sender",
        headers=[("Content-Type", "multipart/report; report-type=delivery-status")],
    )
    quoting = replace(bounce, quoted_message_ids=(f"receipt-7.mailbot@{DOMAIN}",))
    assert decide(quoting, Stored(bounced=CASE)) == Bounce(CASE)
    assert decide(bounce, Stored(bounced=CASE)) == Bounce(None)  # quotes nothing of ours


def test_a_read_receipt_or_null_sender_mail_never_opens_a_case() -> None:
    mdn = mail(
        sender="an.peeters@telenet.example",
        headers=[
            ("Content-Type", "multipart/report; report-type=disposition-notification"),
        ],
    )
    assert isinstance(decide(mdn), Ignore)
    assert decide(mdn, Stored(thread=CASE)) == FollowUp(CASE, automatic=True)
    null = mail(headers=[("Return-Path", "<>")])
    assert isinstance(decide(null), Ignore)


def test_the_website_form_is_its_own_kind() -> None:
    assert isinstance(decide(mail(sender=f"noreply@website.{DOMAIN}")), Form)


def test_verified_staff_commands_are_carried_out() -> None:
    decision = decide(
        mail(sender=COORDINATOR, body="#ontvankelijk", headers=PASS), Stored(thread=CASE)
    )
    assert isinstance(decision, StaffCommands)
    assert decision.case == CASE and decision.parsed.commands[0].name is CommandName.ONTVANKELIJK
    assert decision.trusted_by.startswith("dmarc=pass")


def test_unverified_staff_commands_are_refused() -> None:
    assert isinstance(decide(mail(sender=COORDINATOR, body="#ontvankelijk")), RefusedCommands)


def test_staff_mail_without_commands_is_ordinary_mail() -> None:
    assert decide(mail(sender=COORDINATOR, body="Ik heb een klacht over mijn buren.")) == NewCase(
        None
    )


def test_a_verified_bcc_copy_of_an_answer_counts_as_the_answer() -> None:
    copy = mail(sender=COORDINATOR, to=[CASE.citizen_email], body="Beste, ...", headers=PASS)
    assert decide(copy, Stored(thread=CASE)) == SentAnswer(CASE, to_citizen=True)


@pytest.mark.parametrize(
    ("to", "body", "known", "expected"),
    [
        (
            [CASE.citizen_email],
            "Beste, hier ons antwoord.",
            Stored(thread=CASE),
            SentAnswer(CASE, True),
        ),
        (
            ["dienst@gemeente.example"],
            "Kunnen jullie kijken?",
            Stored(thread=CASE),
            SentAnswer(CASE, False),
        ),
        (["iemand@example.org"], "Iets anders.", Stored(), Ignore("sent mail about no case")),
    ],
)
def test_the_sent_folder(to: list[str], body: str, known: Stored, expected: Decision) -> None:
    assert (
        decide(mail(sender=f"klachten@{DOMAIN}", to=to, body=body), known, "Verzonden items")
        == expected
    )


def test_commands_in_the_sent_folder_are_trusted_by_their_place() -> None:
    decision = decide(
        mail(sender=f"klachten@{DOMAIN}", body="#afsluiten"), Stored(thread=CASE), "Verzonden items"
    )
    assert isinstance(decision, StaffCommands) and decision.trusted_by == "sent folder"


def test_mailbots_own_mail_in_the_sent_folder_is_skipped() -> None:
    own = mail(message_id=f"abc.mailbot@{DOMAIN}", sender=f"klachten@{DOMAIN}")
    assert decide(own, Stored(thread=CASE), "Verzonden items") == Ignore("mailbot's own mail")
