"""Pure rules: references, the statutory deadline, when not to auto-reply."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from mailbot.domain.autoreply import ReplyPolicy, is_bounce, no_reply_reason
from mailbot.domain.deadline import AnswerPeriod, add_months, compute_deadline
from mailbot.domain.model import Address, InboundMail
from mailbot.domain.reference import (
    Reference,
    find_references,
    parse_reference,
    strip_reply_prefixes,
)

BRUSSELS = ZoneInfo("Europe/Brussels")


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (date(2026, 1, 31), date(2026, 2, 28)),
        (date(2028, 1, 31), date(2028, 2, 29)),  # leap year
        (date(2026, 11, 24), date(2026, 12, 24)),
        (date(2026, 12, 15), date(2027, 1, 15)),
        (date(2026, 3, 31), date(2026, 4, 30)),
    ],
)
def test_one_calendar_month(start: date, expected: date) -> None:
    assert add_months(start, 1) == expected


def test_deadline_counts_from_the_local_arrival_date() -> None:
    # 23:30 UTC on 31 January is already 1 February in Brussels.
    arrived = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    assert compute_deadline(arrived, AnswerPeriod(months=1), BRUSSELS) == date(2026, 3, 1)


def test_deadline_across_daylight_saving_keeps_the_date() -> None:
    # Filed just after midnight local time on the day summer time starts (29 March 2026).
    arrived = datetime(2026, 3, 28, 23, 5, tzinfo=UTC)  # 00:05 CET on 29 March
    assert compute_deadline(arrived, AnswerPeriod(months=1), BRUSSELS) == date(2026, 4, 29)
    assert compute_deadline(arrived, AnswerPeriod(days=30), BRUSSELS) == date(2026, 4, 28)


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("1 month", AnswerPeriod(months=1)),
        ("2 maanden", AnswerPeriod(months=2)),
        ("30 days", AnswerPeriod(days=30)),
        (" 45 dagen ", AnswerPeriod(days=45)),
    ],
)
def test_answer_period_parses(text: str, period: AnswerPeriod) -> None:
    assert AnswerPeriod.parse(text) == period


@pytest.mark.parametrize("text", ["", "month", "0 days", "1 week", "-1 month"])
def test_answer_period_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. '1 month'"):
        AnswerPeriod.parse(text)


def test_reference_format_and_parse() -> None:
    ref = Reference("KL", 2026, 42)
    assert str(ref) == "KL-2026-0042"
    assert parse_reference("kl-2026-0042", "KL") == ref
    assert parse_reference("KL-2026-42", "KL") is None
    assert str(Reference("KL", 2026, 12345)) == "KL-2026-12345"


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Ontvangstmelding van je klacht [KL-2026-0042]",
        "Antw: AW: KL-2026-0042 nog een foto",
        "TR: Doorst: WG: Fwd: vraag over KL-2026-0042.",
        "RE[2]: (KL-2026-0042)",
    ],
)
def test_references_found_after_any_prefix(subject: str) -> None:
    assert find_references(subject, "KL") == [Reference("KL", 2026, 42)]


def test_reference_not_found_inside_other_tokens() -> None:
    assert find_references("XKL-2026-0042 and KL-2026-00421", "KL") == [Reference("KL", 2026, 421)]
    assert find_references("KL-2026-004", "KL") == []


def test_strip_reply_prefixes() -> None:
    assert strip_reply_prefixes("Re: AW: Antw: Fwd: Klacht over de wachttijd") == (
        "Klacht over de wachttijd"
    )
    assert strip_reply_prefixes("Reactie op mijn aanvraag") == "Reactie op mijn aanvraag"


def _mail(sender: str = "jan@example.be", **headers: str) -> InboundMail:
    return InboundMail(
        sender=Address(sender, "Jan"),
        reply_to=(),
        to=(Address("klachten@gemeente.example"),),
        cc=(),
        subject=headers.pop("subject", "Klacht"),
        date=None,
        message_id=headers.pop("message_id", "abc@example.be"),
        in_reply_to=(),
        references=(),
        body_text="Hallo",
        attachments=(),
        headers=tuple(headers.items()),
    )


POLICY = ReplyPolicy(
    own_addresses=frozenset({"klachten@gemeente.example"}),
    own_message_id_domain="gemeente.example",
)


@pytest.mark.parametrize(
    ("mail", "reason_part"),
    [
        (_mail(**{"Auto-Submitted": "auto-replied"}), "Auto-Submitted"),
        (_mail(Precedence="bulk"), "Precedence"),
        (_mail(Precedence="junk"), "Precedence"),
        (_mail(**{"List-Id": "<nieuws.example.be>"}), "mailing list"),
        (_mail(**{"List-Unsubscribe": "<mailto:x@example.be>"}), "mailing list"),
        (_mail(**{"X-Auto-Response-Suppress": "All"}), "X-Auto-Response-Suppress"),
        (_mail(**{"X-Spam-Flag": "YES"}), "spam"),
        (_mail("MAILER-DAEMON@mx.example.be"), "robot"),
        (_mail("postmaster@example.be"), "robot"),
        (_mail("no-reply@webshop.example"), "robot"),
        (_mail("noreply@example.be"), "robot"),
        (_mail("klachten@gemeente.example"), "own mail"),
        (_mail(message_id="1234.5.99.mailbot@gemeente.example"), "own mail"),
    ],
)
def test_no_receipt_for_robots_lists_and_ourselves(mail: InboundMail, reason_part: str) -> None:
    reason = no_reply_reason(mail, POLICY)
    assert reason is not None and reason_part in reason


def test_ordinary_mail_gets_a_receipt() -> None:
    assert no_reply_reason(_mail(**{"Auto-Submitted": "no"}), POLICY) is None
    assert no_reply_reason(_mail("jan.noreplyson@example.be"), POLICY) is None


def test_dsn_is_a_bounce() -> None:
    dsn = _mail(
        "mailer-daemon@mx.example.be",
        **{"Content-Type": 'multipart/report; report-type=delivery-status; boundary="x"'},
    )
    assert is_bounce(dsn)
    assert not is_bounce(_mail())
