"""The website form's mail: labelled fields in the body, in whatever shape the form
builder and an HTML-to-text conversion leave them."""

from __future__ import annotations

import pytest

from mailbot.domain.form import FormError, FormSpec, FormSubmission, parse_form

SPEC = FormSpec(sender="no-reply@zoersel.be")
COMPLAINT = "Ik werd aan het loket onbeleefd behandeld.\n\nNiemand heeft me teruggebeld."


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            "Nieuwe inzending van het klachtenformulier\n\n"
            "Naam: An Peeters\n"
            "E-mail: an.peeters@telenet.be\n"
            "Adres: Kerkstraat 1, 2980 Zoersel\n"
            "Telefoon: 0470 12 34 56\n"
            "Onderwerp: Loket burgerzaken\n"
            f"Klacht:\n{COMPLAINT}\n",
            id="plain",
        ),
        pytest.param(
            "naam : An Peeters\n"
            "E-MAILADRES : an.peeters@telenet.be\n"
            "adres : Kerkstraat 1, 2980 Zoersel\n"
            "telefoonnummer : 0470 12 34 56\n"
            "onderwerp : Loket burgerzaken\n"
            f"uw klacht : {COMPLAINT}\n",
            id="spaced-lowercase",
        ),
        pytest.param(
            "**Naam:** An Peeters\n\n"
            "**E-mail:** [an.peeters@telenet.be](mailto:an.peeters@telenet.be)\n\n"
            "**Adres:** Kerkstraat 1, 2980 Zoersel\n\n"
            "**Telefoon:** 0470 12 34 56\n\n"
            "**Onderwerp:** Loket burgerzaken\n\n"
            f"**Omschrijving:**\n\n{COMPLAINT}\n",
            id="html-bold",
        ),
        pytest.param(
            "Veld | Waarde\n---|---\n"
            "Naam | An Peeters\n"
            "E-mail | an.peeters@telenet.be\n"
            "Adres | Kerkstraat 1, 2980 Zoersel\n"
            "Telefoon | 0470 12 34 56\n"
            "Onderwerp | Loket burgerzaken\n"
            f"Bericht |\n{COMPLAINT}\n",
            id="html-table",
        ),
        pytest.param(
            "Naam:\n\nAn Peeters\n\n"
            "E-mail:\n\nan.peeters@telenet.be\n\n"
            "Voornaam en naam dienst:\n\n"  # an unknown label is just text: ignored here
            "Adres:\n\nKerkstraat 1\n2980 Zoersel\n\n"
            "Telefoon:\n\n0470 12 34 56\n\n"
            "Onderwerp:\n\nLoket burgerzaken\n\n"
            f"Je klacht:\n\n{COMPLAINT}\n\n"
            "--\nDit bericht werd verstuurd via www.zoersel.be\n",
            id="html-paragraphs-and-footer",
        ),
        pytest.param(
            "Voornaam: An\nNaam: Peeters\n"
            "E-mail: an.peeters@telenet.be\n"
            "Straat en nummer: Kerkstraat 1\nPostcode: 2980\nGemeente: Zoersel\n"
            "Gsm: 0470 12 34 56\n"
            "Onderwerp: Loket burgerzaken\n"
            f"Klacht: {COMPLAINT}\n",
            id="split-name-and-address",
        ),
    ],
)
def test_form_shapes(body: str) -> None:
    assert parse_form(body, SPEC) == FormSubmission(
        name="An Peeters",
        email="an.peeters@telenet.be",
        subject="Loket burgerzaken",
        text=COMPLAINT,
        address="Kerkstraat 1, 2980 Zoersel",
        phone="0470 12 34 56",
    )


def test_complaint_text_runs_until_the_next_label() -> None:
    body = (
        "Naam: An\n"
        "Klacht: Eerste regel.\n"
        "Tweede regel: met een dubbele punt.\n"
        "Naam: van de medewerker weet ik niet.\n"  # a label the form already had
        "\n"
        "Derde alinea.\n"
        "E-mail: an@telenet.be\n"
    )
    result = parse_form(body, SPEC)
    assert result.text == (
        "Eerste regel.\nTweede regel: met een dubbele punt.\n"
        "Naam: van de medewerker weet ik niet.\n\nDerde alinea."
    )
    assert (result.name, result.email) == ("An", "an@telenet.be")


def test_other_fields_end_the_complaint_and_are_kept_apart() -> None:
    body = (
        "Naam: An\nKlacht: Het loket was dicht.\n"
        "Datum van de feiten: 12/11/2026\nBetrokken dienst: Burgerzaken\nPrivacy: akkoord\n"
    )
    result = parse_form(body, SPEC)
    assert result.text == "Het loket was dicht."
    assert result.extra == (
        ("Datum van de feiten", "12/11/2026"),
        ("Betrokken dienst", "Burgerzaken"),
        ("Privacy", "akkoord"),
    )


@pytest.mark.parametrize(
    ("body", "name", "email"),
    [
        ("E-mail: an@telenet.be\nKlacht: x", "", "an@telenet.be"),
        ("Naam: An\nE-mail: geen\nKlacht: x", "An", None),
        ("Naam: An\u00a0Peeters\nKlacht: x", "An Peeters", None),
    ],
)
def test_name_or_email_alone_is_enough(body: str, name: str, email: str | None) -> None:
    result = parse_form(body, SPEC)
    assert (result.name, result.email) == (name, email)
    assert result.address is None and result.phone is None and result.subject is None


def test_without_a_complaint_label_the_unlabelled_text_is_kept() -> None:
    result = parse_form("Naam: An\n\nHet loket was dicht.", SPEC)
    assert result.text == "Het loket was dicht."


@pytest.mark.parametrize(
    "body",
    [
        "",
        "Hallo, dit is geen formulier.",
        "Naam:\nE-mail:\nKlacht: iets",
        "Onderwerp: test\nKlacht: iets",
    ],
)
def test_no_name_and_no_email_is_an_error(body: str) -> None:
    with pytest.raises(FormError, match="neither a name nor an e-mail address"):
        parse_form(body, SPEC)


def test_labels_are_configurable() -> None:
    spec = FormSpec(
        sender="formulieren@zoersel.be", name_labels=("Indiener",), text_labels=("Melding",)
    )
    result = parse_form("Indiener: An\nMelding: Het loket was dicht.", spec)
    assert (result.name, result.text) == ("An", "Het loket was dicht.")


@pytest.mark.parametrize(
    ("sender", "expected"),
    [("no-reply@zoersel.be", True), ("No-Reply@Zoersel.be ", True), ("an@telenet.be", False)],
)
def test_form_sender(sender: str, expected: bool) -> None:
    assert SPEC.is_form_mail(sender) is expected
