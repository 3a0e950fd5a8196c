"""Who may command mailbot by mail: RFC 8601 Authentication-Results from our own servers."""

from __future__ import annotations

import pytest

from mailbot.domain.trust import verified_sender

MX = ["mx.gemeente.example"]
STAFF = "coordinator@gemeente.example"


@pytest.mark.parametrize(
    "header",
    [
        "mx.gemeente.example; dmarc=pass (p=reject) header.from=gemeente.example",
        "mx.gemeente.example;\r\n dkim=pass (2048-bit key) header.d=gemeente.example "
        "header.s=sel1; spf=pass smtp.mailfrom=gemeente.example",
        "MX.gemeente.example 1; spf=none; dkim=pass header.i=@gemeente.example",
    ],
)
def test_a_pass_from_our_own_server_is_trusted(header: str) -> None:
    assert verified_sender(STAFF, [header], MX) is not None


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        (["mx.gemeente.example; dmarc=fail header.from=gemeente.example"], "dmarc failed"),
        (["mx.gemeente.example; spf=pass smtp.mailfrom=gemeente.example"], "SPF alone"),
        (["evil.example; dmarc=pass header.from=gemeente.example"], "someone else's server"),
        (["mx.gemeente.example; dkim=pass header.d=evil.example"], "signed by another domain"),
        (["mx.gemeente.example; dmarc=pass header.from=evil.example"], "about another domain"),
        ([], "no header at all"),
    ],
)
def test_forgery_is_not_trusted(headers: list[str], why: str) -> None:
    assert verified_sender(STAFF, headers, MX) is None, why


def test_nothing_is_trusted_without_configured_servers() -> None:
    header = "mx.gemeente.example; dmarc=pass header.from=gemeente.example"
    assert verified_sender(STAFF, [header], []) is None
