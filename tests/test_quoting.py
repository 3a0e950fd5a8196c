"""Trimming the quoted history of replies, so the case timeline shows what is new."""

from __future__ import annotations

import pytest

from mailbot.domain.quoting import first_lines, split_quoted, trim_quoted

NEW = "Bedankt, maar ik wacht nog altijd op mijn parkeerkaart.\n\nGroeten,\nAn"


@pytest.mark.parametrize(
    "history",
    [
        pytest.param(
            "Op di 24 nov. 2026 om 10:15 schreef Klachten Zoersel <klachten@zoersel.be>:\n"
            "> Beste An,\n> We hebben je klacht ontvangen.\n",
            id="gmail-nl",
        ),
        pytest.param(
            "Op di 24 nov. 2026 om 10:15 schreef Klachten Zoersel <\n"
            "klachten@zoersel.be>:\n> Beste An,\n",
            id="gmail-nl-wrapped",
        ),
        pytest.param(
            "Op 24 nov. 2026, om 10:15 heeft Klachten Zoersel <klachten@zoersel.be> het\n"
            "volgende geschreven:\n\n> Beste An,\n",
            id="apple-nl-wrapped",
        ),
        pytest.param(
            "Op 24-11-2026 om 10:15 schreef Klachten Zoersel:\n> Beste An,\n",
            id="thunderbird-nl",
        ),
        pytest.param(
            "On Tue, Nov 24, 2026 at 10:15 AM Klachten <klachten@zoersel.be> wrote:\n> Hi\n",
            id="gmail-en",
        ),
        pytest.param(
            "Le mar. 24 nov. 2026 à 10:15, Klachten <klachten@zoersel.be> a écrit :\n> x\n",
            id="gmail-fr",
        ),
        pytest.param(
            "________________________________\n"
            "Van: Klachten Zoersel <klachten@zoersel.be>\n"
            "Verzonden: dinsdag 24 november 2026 10:15\n"
            "Aan: An Peeters <an@telenet.be>\n"
            "Onderwerp: Ontvangstmelding KL-2026-0042\n\nBeste An,\n",
            id="outlook-nl-separator",
        ),
        pytest.param(
            "Van: Klachten Zoersel <klachten@zoersel.be>\n"
            "Datum: dinsdag 24 november 2026 om 10:15\n"
            "Aan: An Peeters <an@telenet.be>\n"
            "CC: Burgerzaken <burgerzaken@zoersel.be>\n"
            "Onderwerp: Ontvangstmelding KL-2026-0042\n\nBeste An,\n",
            id="new-outlook-nl",
        ),
        pytest.param(
            "From: Klachten Zoersel <klachten@zoersel.be>\nSent: Tuesday, November 24, 2026\n"
            "To: An Peeters\nSubject: Ontvangstmelding KL-2026-0042\n\nBeste An,\n",
            id="outlook-en",
        ),
        pytest.param(
            "**Van:** Klachten Zoersel\n**Verzonden:** dinsdag 24 november 2026 10:15\n"
            "**Aan:** An Peeters\n**Onderwerp:** Ontvangstmelding\n\nBeste An,\n",
            id="outlook-html-converted",
        ),
        pytest.param(
            "* * *\nVan: Klachten Zoersel\nVerzonden: dinsdag\nAan: An\nOnderwerp: x\n",
            id="outlook-html-hr",
        ),
        pytest.param(
            "-----Oorspronkelijk bericht-----\nVan: Klachten Zoersel\nBeste An,\n",
            id="oorspronkelijk-bericht",
        ),
        pytest.param("-----Original Message-----\nFrom: Klachten\nHi\n", id="original-message"),
        pytest.param("> Beste An,\n>\n> We hebben je klacht ontvangen.\n\n", id="bare-quote"),
    ],
)
def test_history_is_cut_and_the_new_text_kept(history: str) -> None:
    assert trim_quoted(f"{NEW}\n\n{history}") == NEW


def test_new_text_after_the_history_is_kept() -> None:
    """Inline replies: only a run of quotes at the very end is history."""
    text = "Zie mijn antwoorden:\n> Wanneer was dat?\nOp 3 maart.\n> Aan welk loket?\nLoket 2."
    assert trim_quoted(text) == text


@pytest.mark.parametrize(
    "text",
    [
        # a sentence that looks like an attribution, but carries no time
        "Op 3 maart schreef de dienst me:\nwe komen langs. Niemand kwam.",
        # one "Van:" in prose is no Outlook header block
        "Van: de dienst kreeg ik niets.\nAan: niemand iets gevraagd.",
        # a signature rule without a header block after it
        "Ik wacht nog.\n________________________________\nAn Peeters, Kerkstraat 1",
    ],
)
def test_prose_that_resembles_a_quote_header_is_kept(text: str) -> None:
    assert trim_quoted(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "> alleen een citaat\n> niets nieuws",
        "\n\nOp di 24 nov. 2026 om 10:15 schreef An <an@telenet.be>:\n> klacht\n",
        "-----Original Message-----\nFrom: An\nmijn klacht",
    ],
)
def test_a_text_that_is_only_quote_is_returned_unchanged(text: str) -> None:
    assert trim_quoted(text) == text


def test_forwarded_mail_is_not_cut() -> None:
    """A citizen forwarding the service's mail wants us to read it."""
    text = (
        "Zie hieronder: de dienst antwoordt niet.\n\n"
        "---------- Doorgestuurd bericht ---------\n"
        "Van: An <an@telenet.be>\nDatum: di 3 mrt. 2026\nOnderwerp: aanvraag\n"
        "Aan: burgerzaken@zoersel.be\n\nIk vroeg een attest aan."
    )
    assert trim_quoted(text) == text
    assert split_quoted(text, forwards=True)[0] == "Zie hieronder: de dienst antwoordt niet.\n\n"


@pytest.mark.parametrize(
    "text",
    [
        NEW,
        f"{NEW}\n\nOp di 24 nov. 2026 om 10:15 schreef X <x@y.be>:\n> a\n",
        "a\r\nb\r\n> c\r\n",
    ],
)
def test_split_keeps_every_character(text: str) -> None:
    head, tail = split_quoted(text)
    assert head + tail == text


def test_nbsp_and_zero_width_characters_do_not_hide_the_header() -> None:
    text = "Ok.\n\u200bVan:\u00a0Klachten\nVerzonden:\u00a0di\nAan:\u00a0An\nOnderwerp: x\n"
    assert trim_quoted(text) == "Ok."


@pytest.mark.parametrize(
    "marker",
    [
        "\u200b-----Oorspronkelijk bericht-----\n",
        "\ufeff__________\nVan: Klachten\nVerzonden: di\nOnderwerp: x\n",
        "\u200b* * *\n\u00a0Van: Klachten\nAan: An\nOnderwerp: x\n",
        "\u2060Op di 24 nov. 2026 om 10:15 schreef Klachten <klachten@x.be>:\u00a0\n",
        "\u200bOn Tue, Nov 24, 2026 at 10:15 AM Klachten\n<klachten@x.be> wrote:\u202f\n",
        "\ufeff> a\n",
    ],
)
def test_invisible_characters_before_or_after_a_marker_do_not_hide_it(marker: str) -> None:
    # Each line's first and last character rule most patterns out before they run: those
    # are the characters after the invisible ones are taken away.
    assert trim_quoted(f"Ok.\n{marker}> oud\n") == "Ok."


@pytest.mark.parametrize(
    ("text", "n", "expected"),
    [
        ("a\n\n  \nb\nc\nd", 2, "a\nb"),
        ("a\nb", 5, "a\nb"),
        ("a  \nb", 1, "a"),
        ("a\nb", 0, ""),
        ("", 3, ""),
    ],
)
def test_first_lines_skips_blank_lines(text: str, n: int, expected: str) -> None:
    assert first_lines(text, n) == expected


@pytest.mark.parametrize(
    "attribution",
    [
        "Burger schreef op 12-01-2026 om 10:15:",
        "An Peeters <an.peeters@burger.example> schreef op 12 jan. 2026 10:15:",
        "Jan <jan@x.example> wrote on 24/11/2026 10:15:",
    ],
)
def test_a_name_first_attribution_starts_the_history(attribution: str) -> None:
    body = f"Beste,\n\nHier ons antwoord.\n\n{attribution}\n#onontvankelijk melding\n"
    assert trim_quoted(body) == "Beste,\n\nHier ons antwoord."
