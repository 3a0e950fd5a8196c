"""What of a stranger's words a receipt may repeat (issue 10.7)."""

from __future__ import annotations

import pytest

from mailbot.domain.echo import safe_echo


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Afval in de Kerkstraat", "Afval in de Kerkstraat"),
        (
            "Uw betaling is mislukt: ga naar http://evil.example/pay?x=1",
            "Uw betaling is mislukt: ga naar [link]",
        ),
        ("Bel ons of kijk op www.evil.example", "Bel ons of kijk op [link]"),
        ("Betaal via evil-bank.com/login nu", "Betaal via [link] nu"),
        ("Mail naar help@evil.example", "Mail naar [adres]"),
        ("An <an@burger.example>, bo@x.example", "An [adres] , [adres]"),
        ("Regel een\nRegel twee", "Regel een Regel twee"),
    ],
)
def test_links_addresses_and_line_breaks_never_pass(text: str, expected: str) -> None:
    assert safe_echo(text) == expected


def test_long_text_is_cut() -> None:
    assert len(safe_echo("x " * 200)) == 150
