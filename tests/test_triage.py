"""Hints for the staff notice: suggested inadmissibility reasons, each with its evidence."""

from __future__ import annotations

from datetime import date

import pytest

from mailbot.domain.commands import InadmissibleReason
from mailbot.domain.triage import DEFAULT_KEYWORDS, Hint, TriageKeywords, hints

RECEIVED = date(2026, 11, 20)
NAME, EMAIL = "An Peeters", "an.peeters@telenet.be"
R = InadmissibleReason


def triage(
    body: str,
    subject: str = "Klacht",
    name: str = NAME,
    email: str = EMAIL,
    keywords: TriageKeywords = DEFAULT_KEYWORDS,
    earlier: tuple[tuple[str, str], ...] = (),
) -> list[Hint]:
    return hints(subject, body, name, email, RECEIVED, keywords, earlier)


def reasons(found: list[Hint]) -> list[InadmissibleReason]:
    return [h.reason for h in found]


# --- keywords ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason", "evidence"),
    [
        ("De straatlamp in onze straat is al weken kapot.", R.MELDING, "'straatlamp'"),
        ("Er staan drie straatlampen uit.", R.MELDING, "'straatlampen'"),
        ("Er zit een put in de weg aan de kerk.", R.MELDING, "'put in de weg'"),
        ("Iemand heeft weer gesluikstort. Sluikstorten is een plaag.", R.MELDING, "'Sluikstorten'"),
        ("Elke nacht geluidsoverlast van de fuifzaal.", R.MELDING, "'geluidsoverlast'"),
        ("Er wordt veel te snel gereden.", R.MELDING, "'te snel'"),
        ("Wat zijn de openingsuren van het containerpark?", R.INFORMATIE, "'openingsuren'"),
        ("Graag info over de premie.", R.INFORMATIE, "'Graag info'"),
        ("Ik had een vraag over de premie.", R.INFORMATIE, "'Ik had een vraag over'"),
        ("Mijn suggestie: meer zitbanken.", R.SUGGESTIE, "'suggestie'"),
        ("Zou het niet beter zijn om het plein autovrij te maken?", R.SUGGESTIE, "beter zijn"),
        ("Mijn advocaat neemt contact op.", R.GERECHT, "'advocaat'"),
        ("De zaak ligt bij de vrederechter.", R.GERECHT, "'vrederechter'"),
        ("Ik heb het ook op Facebook gezet.", R.SOCIALE_MEDIA, "'Facebook'"),
        ("Zie mijn post op https://x.com/an/status/1", R.SOCIALE_MEDIA, "'x.com'"),
    ],
)
def test_keyword_hints_quote_the_words_found(
    body: str, reason: InadmissibleReason, evidence: str
) -> None:
    found = triage(body)
    assert reasons(found) == [reason]
    assert evidence in found[0].evidence


def test_the_melding_hint_reads_as_a_suggestion() -> None:
    [hint] = triage("De straatlamp is kapot.")
    assert hint.evidence == "lijkt een melding: vermeldt 'straatlamp'"


@pytest.mark.parametrize(
    "body",
    [
        # a complaint about the service, not a report
        "Ik werd aan het loket onbeleefd behandeld en niemand antwoordt op mijn mails.",
        "Op het containerpark werd ik uitgescholden door een medewerker.",  # not 'container'
        "De input van de dienst was onvolledig; de output ook.",  # not 'put'
        "Ik heb geen idee wanneer ik een antwoord krijg.",  # not 'idee'
        "Ik had een vraag gesteld en kreeg nooit antwoord.",  # 'vraag' is too common
        "Ik heb de brief gisteren gepost.",  # Flemish: posted a letter
        "Mail me op an@x.com, dank.",  # an address, not the network X
        "Ik kan me niet voorstellen dat dit normaal is.",
    ],
)
def test_ordinary_complaints_get_no_keyword_hint(body: str) -> None:
    assert triage(body) == []


def test_subject_counts_and_evidence_is_capped() -> None:
    body = "Afval, sluikstort, zwerfvuil, hondenpoep en onkruid overal."
    [hint] = triage(body, subject="Straatlamp")
    assert hint.evidence.count("'") == 6  # three words quoted, no more


def test_quoted_history_is_not_evidence() -> None:
    body = "Ik wacht nog altijd.\n\nOp di 24 nov. 2026 om 10:15 schreef X <x@y.be>:\n> straatlamp\n"
    assert triage(body) == []


def test_keyword_lists_are_configurable() -> None:
    keywords = TriageKeywords(melding=("boomwortel*",), sociale_media=())
    found = triage(
        "De boomwortels duwen het voetpad omhoog; ik postte het op Facebook.", keywords=keywords
    )
    assert reasons(found) == [R.MELDING]
    assert "'boomwortels'" in found[0].evidence


# --- anonymity -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "email", "body", "evidence"),
    [
        ("Anoniem", "an@telenet.be", "Dag", "naam 'Anoniem'"),
        ("een bezorgde burger", "an@telenet.be", "Dag", "naam 'een bezorgde burger'"),
        ("An", "an@mailinator.com", "Dag", "wegwerpadres 'an@mailinator.com'"),
        ("An", "an@sub.yopmail.fr", "Dag", "wegwerpadres"),
        ("An", "x@guerrillamail.net", "Dag", "wegwerpadres"),
        ("An", "anoniem123@gmail.com", "Dag", "adres 'anoniem123@gmail.com' draagt geen naam"),
        ("", "84720193@gmail.com", "Dag", "draagt geen naam"),
        ("", "xkcdqzt@gmail.com", "Dag", "draagt geen naam"),
        ("", "", "Dag", "geen naam en geen e-mailadres"),
        ("", "an.peeters@telenet.be", "Dag, het loket was dicht.", "geen naam opgegeven"),
        ("an.peeters@telenet.be", "an.peeters@telenet.be", "Dag", "geen naam opgegeven"),
    ],
)
def test_anonymity_hints(name: str, email: str, body: str, evidence: str) -> None:
    found = triage(body, name=name, email=email)
    assert reasons(found) == [R.ANONIEM]
    assert evidence in found[0].evidence


@pytest.mark.parametrize(
    ("name", "email", "body"),
    [
        ("An Peeters", "an.peeters@telenet.be", "Dag"),
        ("Jan", "jan1985@gmail.com", "Dag"),
        # no display name, but the mail is signed with a name in the address
        ("", "an.peeters@telenet.be", "Het loket was dicht.\n\nAn Peeters"),
        ("", "apeeters@telenet.be", "Het loket was dicht.\nGroeten, An Peeters"),
    ],
)
def test_identified_citizens_are_not_called_anonymous(name: str, email: str, body: str) -> None:
    assert triage(body, name=name, email=email) == []


# --- old facts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("Op 12/03/2024 werd ik slecht behandeld.", "'12/03/2024'"),
        ("Op 12-03-2024 werd ik slecht behandeld.", "'12-03-2024'"),
        ("Op 2024-03-12 werd ik slecht behandeld.", "'2024-03-12'"),
        ("Op 12 maart 2024 werd ik slecht behandeld.", "'12 maart 2024'"),
        ("Op 1 mrt. 2025 werd ik slecht behandeld.", "'1 mrt. 2025'"),
        ("In oktober 2025 werd ik slecht behandeld.", "'oktober 2025'"),
        ("Dit gebeurde in 2024.", "'in 2024'"),
        # the earliest date is shown
        ("Op 3/1/2025 en nog eens op 5/10/2026 werd ik slecht behandeld.", "'3/1/2025'"),
    ],
)
def test_facts_older_than_a_year(body: str, shown: str) -> None:
    found = triage(body)
    assert reasons(found) == [R.OUD]
    assert shown in found[0].evidence
    assert "20/11/2026" in found[0].evidence


@pytest.mark.parametrize(
    "body",
    [
        "Op 21/11/2025 werd ik slecht behandeld.",  # within the year
        "Op 20/11/2025 werd ik slecht behandeld.",  # exactly a year: not older
        "In november 2025 werd ik slecht behandeld.",  # the month may end within the year
        "Dit gebeurde in 2025.",  # the year may end within the year
        "Sinds 2023 wacht ik op een antwoord.",  # still going on
        "Ik ben geboren op 12/03/1970 en werd slecht behandeld.",
        "Mijn afspraak op 12/12/2026 werd verzet.",  # after receipt
        "Op 31/02/2024 gebeurde het.",  # no such day
        "Mijn dossier KL-2024-0012 werd slecht behandeld.",
    ],
)
def test_recent_or_irrelevant_dates_give_no_hint(body: str) -> None:
    assert triage(body) == []


@pytest.mark.parametrize(("fact", "hinted"), [("27/02/2027", True), ("28/02/2027", False)])
def test_a_year_before_a_leap_day(fact: str, hinted: bool) -> None:
    found = hints("Klacht", f"Op {fact} gebeurde het.", NAME, EMAIL, date(2028, 2, 29))
    assert reasons(found) == ([R.OUD] if hinted else [])


# --- earlier closed cases ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "earlier", "expected"),
    [
        (
            "Parkeerkaart niet ontvangen",
            (("KL-2025-0007", "Parkeerkaart nog steeds niet ontvangen"),),
            ["KL-2025-0007"],
        ),
        # plural, reply prefix and accents do not hide the match; a long shared word
        # (a Dutch compound) is enough on its own
        (
            "RE: Omgevingsvergunning tuinhuis",
            (("KL-2025-0001", "Wachttijd omgevingsvergunningen"),),
            ["KL-2025-0001"],
        ),
        # word order does not matter; one short shared word ("loket") is not enough
        (
            "Loket burgerzaken onbeleefd",
            (
                ("KL-2025-0002", "Loket dicht"),
                ("KL-2025-0003", "Onbeleefd loket burgerzaken"),
            ),
            ["KL-2025-0003"],
        ),
        # the closest case first
        (
            "Parkeerkaart bewoners niet ontvangen",
            (
                ("KL-2025-0005", "Parkeerkaart aangevraagd"),
                ("KL-2025-0006", "Parkeerkaart voor bewoners nog niet ontvangen"),
            ),
            ["KL-2025-0006", "KL-2025-0005"],
        ),
    ],
)
def test_similar_earlier_closed_cases_are_named(
    subject: str, earlier: tuple[tuple[str, str], ...], expected: list[str]
) -> None:
    found = triage("Dag,", subject=subject, earlier=earlier)
    assert reasons(found) == [R.EERDER] * len(expected)
    for hint, reference in zip(found, expected, strict=True):
        assert f"lijkt op eerder afgesloten {reference}" in hint.evidence


@pytest.mark.parametrize(
    ("subject", "earlier_subject"),
    [
        ("Parkeerkaart niet ontvangen", "Afvalzakken niet opgehaald"),
        ("Klacht over de dienst", "Klacht over de gemeente"),  # only generic words shared
        ("Loket", "Afvalophaling te laat, loket gesloten, niemand bereikbaar"),
        ("", "Loket dicht"),
    ],
)
def test_different_subjects_are_not_linked(subject: str, earlier_subject: str) -> None:
    assert triage("Dag,", subject=subject, earlier=(("KL-2025-0009", earlier_subject),)) == []


def test_hints_come_in_the_order_of_the_reasons() -> None:
    found = triage(
        "Op 12 maart 2024 was de straatlamp kapot; ik zette het op Facebook.",
        subject="Straatlamp kapot",
        name="Anoniem",
        earlier=(("KL-2025-0004", "Straatlamp kapot"),),
    )
    assert reasons(found) == [R.MELDING, R.ANONIEM, R.OUD, R.EERDER, R.SOCIALE_MEDIA]


def test_a_huge_mail_is_read_only_at_its_start() -> None:
    """A hostile megabyte must not hold up intake; the evidence that matters comes first."""
    filler = "bla " * 250_000
    assert reasons(triage(f"De straatlamp is kapot. {filler}")) == [R.MELDING]
    assert triage(f"{filler} De straatlamp is kapot.") == []
