"""Who may command mailbot by mail: RFC 8601 Authentication-Results added by our own
receiving server, above the Received header it added (section 5); everything below that
line came with the mail and proves nothing."""

from __future__ import annotations

import pytest

from mailbot.domain.trust import single_from, verified_sender

MX = ["mx.gemeente.example"]
STAFF = "coordinator@gemeente.example"
FROM = ("From", f"Coördinator <{STAFF}>")
HOP = ("Received", "from mail.gemeente.example by mx.gemeente.example with ESMTPS id 4Xy")
OUTSIDE_HOP = ("Received", "from evil.example by smtp.evil.example with ESMTP id 77")


def ar(text: str) -> tuple[str, str]:
    return ("Authentication-Results", text)


PASS_DMARC = ar("mx.gemeente.example; dmarc=pass (p=reject) header.from=gemeente.example")
FAIL_DMARC = ar("mx.gemeente.example; dmarc=fail (p=reject) header.from=gemeente.example")


@pytest.mark.parametrize(
    "header",
    [
        PASS_DMARC,
        ar(
            "mx.gemeente.example;\r\n dkim=pass (2048-bit key) header.d=gemeente.example "
            "header.s=sel1; spf=pass smtp.mailfrom=gemeente.example"
        ),
        ar("MX.gemeente.example 1; spf=none; dkim=pass header.i=@gemeente.example"),
    ],
)
def test_a_pass_from_our_own_server_above_its_received_line_is_trusted(
    header: tuple[str, str],
) -> None:
    assert verified_sender(STAFF, [header, HOP, FROM], MX) is not None


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ([FAIL_DMARC, HOP, FROM], "dmarc failed"),
        ([ar("mx.gemeente.example; spf=pass smtp.mailfrom=gemeente.example"), HOP, FROM], "SPF"),
        ([ar("evil.example; dmarc=pass header.from=gemeente.example"), HOP, FROM], "not ours"),
        ([ar("mx.gemeente.example; dkim=pass header.d=evil.example"), HOP, FROM], "other signer"),
        ([ar("mx.gemeente.example; dmarc=pass header.from=evil.example"), HOP, FROM], "other"),
        ([HOP, FROM], "no header at all"),
        # the sender wrote our server's header into the mail: it sits below our Received
        ([HOP, PASS_DMARC, FROM], "forged below the receiving server's trace"),
        ([HOP, OUTSIDE_HOP, PASS_DMARC, FROM], "forged further down"),
        # our server said fail; the forged pass sits below, or above the real one
        ([FAIL_DMARC, HOP, PASS_DMARC, FROM], "real fail, forged pass below"),
        ([PASS_DMARC, FAIL_DMARC, HOP, FROM], "forged pass above the real fail"),
        # signed by the attacker, with an i= in our domain
        (
            [
                ar(
                    "mx.gemeente.example; dkim=pass header.d=evil.example "
                    "header.i=coordinator@gemeente.example"
                ),
                HOP,
                FROM,
            ],
            "d= decides, not i=",
        ),
        # a DMARC pass that does not say for which From domain
        ([ar("mx.gemeente.example; dmarc=pass"), HOP, FROM], "no header.from"),
    ],
)
def test_forgery_is_not_trusted(headers: list[tuple[str, str]], why: str) -> None:
    assert verified_sender(STAFF, headers, MX) is None, why


def test_without_any_received_line_only_the_top_block_counts() -> None:
    assert verified_sender(STAFF, [PASS_DMARC, FROM], MX) is not None
    assert verified_sender(STAFF, [FROM, PASS_DMARC], MX) is None


@pytest.mark.parametrize(
    ("value", "single"),
    [
        (f"Coördinator <{STAFF}>", True),
        (f'"Peeters, An" <{STAFF}>', True),
        (f"attacker@evil.example, {STAFF}", False),
        # what an encoded word in the display name decodes to
        (f"attacker@evil.example <{STAFF}>", False),
    ],
)
def test_a_from_with_more_than_one_address_is_refused(value: str, single: bool) -> None:
    assert single_from([("From", value)]) is single
    headers = [PASS_DMARC, HOP, ("From", value)]
    assert (verified_sender(STAFF, headers, MX) is not None) is single


def test_two_from_fields_are_refused() -> None:
    headers = [PASS_DMARC, HOP, FROM, ("From", "attacker@evil.example")]
    assert verified_sender(STAFF, headers, MX) is None


def test_nothing_is_trusted_without_configured_servers() -> None:
    assert verified_sender(STAFF, [PASS_DMARC, HOP, FROM], []) is None
