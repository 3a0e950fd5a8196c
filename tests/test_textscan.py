"""The cheap tests before the slow patterns of triage and old facts (domain/textscan.py)
may skip a pattern only when it cannot match: the hints a coordinator reads are the same
with and without them."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mailbot.domain import old_facts
from mailbot.domain.textscan import fold, may_contain
from mailbot.domain.triage import (
    DEFAULT_KEYWORDS,
    _keyword_pattern,
    _mentions,
    hints,
)

KEYWORD_LISTS = {
    "informatie": DEFAULT_KEYWORDS.informatie,
    "melding": DEFAULT_KEYWORDS.melding,
    "suggestie": DEFAULT_KEYWORDS.suggestie,
    "gerecht": DEFAULT_KEYWORDS.gerecht,
    "sociale_media": DEFAULT_KEYWORDS.sociale_media,
}
ODD = ["İ", "ı", "ſ", "K", "\u00a0", "é", "ß", "\u200b", "Ⅻ", "٣"]


def test_fold_knows_every_character_re_takes_for_an_ascii_letter() -> None:
    """Every code point of the BMP that `re` with IGNORECASE matches to an ASCII letter
    or digit folds to that letter: a skipped pattern never hid a match."""
    for letter in "abcdefghijklmnopqrstuvwxyz0123456789":
        pattern = re.compile(re.escape(letter), re.IGNORECASE)
        for code in range(0x10000):
            char = chr(code)
            if pattern.fullmatch(char):
                assert may_contain(fold(char), letter), f"U+{code:04X} matches {letter!r}"


def _all_keywords_mentions(text: str, keywords: tuple[str, ...]) -> list[str]:
    """What `_mentions` said before the cheap test: the pattern of every keyword."""
    pattern = _keyword_pattern(keywords)
    assert pattern is not None
    found: list[str] = []
    for match in pattern.finditer(text):
        word = " ".join(match.group(0).split())
        if word.lower() not in [w.lower() for w in found]:
            found.append(word)
    return found


def _recase(draw: st.DrawFn, word: str) -> str:
    """The word as people (and odd mailers) write it: any letter upper or lower case,
    an 'i' or 's' now and then in a look-alike that `re` matches all the same."""
    out = []
    for char in word:
        choice = draw(st.integers(0, 5))
        if char == "i" and choice == 5:
            out.append(draw(st.sampled_from(["İ", "ı"])))
        elif char == "s" and choice == 5:
            out.append("ſ")
        else:
            out.append(char.upper() if choice % 2 else char)
    return "".join(out)


@st.composite
def complaint_texts(draw: st.DrawFn) -> str:
    keywords = [k for words in KEYWORD_LISTS.values() for k in words]
    months = list(old_facts._MONTHS)
    pieces = draw(
        st.lists(
            st.one_of(
                st.sampled_from(keywords).map(lambda k: k.strip("*")),
                st.sampled_from(months),
                st.sampled_from(
                    ["in", "op", "eind van", "3de", "geboren", "2023", "12/03/2024", "2025-01-31"]
                ),
                st.integers(1, 31).map(str),
                st.sampled_from(ODD),
                st.text(alphabet="abcdefghijklmnopqrstuvwxyz .,/-@", max_size=8),
            ),
            max_size=25,
        )
    )
    joiners = draw(
        st.lists(st.sampled_from([" ", "", "\n", "  ", "-", "@", "\u00a0", " \t\n "]), min_size=25)
    )
    return "".join(_recase(draw, p) + j for p, j in zip(pieces, joiners, strict=False))


@given(complaint_texts())
@settings(max_examples=300, deadline=None)
@example("Ik wil graag INFORMATIE over de ſluikstort op 3 MAART 2024")
@example("ınformatıe over Afvalophaling in 2023")
def test_keyword_hints_are_the_same_as_with_every_pattern(text: str) -> None:
    for keywords in KEYWORD_LISTS.values():
        assert _mentions(text, keywords) == _all_keywords_mentions(text, keywords)


@given(complaint_texts())
@settings(max_examples=300, deadline=None)
@example("Het gebeurde op 3 ſept 2023 en opnieuw in 2024")
@example("De feiten: 12 MAART 2022, geboren 1 mei 1980")
@example("Eind   van\n\n  2019 al, en op 3de maart.   2020 nog eens, 1/2/2021 en 2022-02-28")
@example(" ".join(f"{n} mei {2000 + n}" for n in range(1, 25)))  # more years than one by one
def test_dates_found_are_the_same_as_with_every_pattern(
    text: str,
) -> None:
    found = old_facts._mentioned_dates(text)
    with pytest.MonkeyPatch.context() as patch:  # the cheap tests off: every pattern runs
        patch.setattr(old_facts, "_YEAR", re.compile(""))  # "a year somewhere", always
        patch.setattr(old_facts, "_YEARS_ONE_BY_ONE", -1)  # over the whole text
        patch.setattr(old_facts, "may_contain", lambda _folded, _literal: True)
        assert found == old_facts._mentioned_dates(text)


def test_a_complaint_without_a_year_or_keyword_gets_no_hint_and_one_with_them_does() -> None:
    plain = "Beste, de stoep in onze straat ligt al weken open. Met vriendelijke groet, An Peeters"
    assert old_facts._mentioned_dates(plain) == []
    assert hints("Stoep", plain, "An Peeters", "an.peeters@example.be", date(2026, 12, 1)) == []
    dated = plain.replace("al weken", "sinds 3 MAART 2024 (en weer in ſeptember 2024)")
    found = hints("Stoep", dated, "An Peeters", "an.peeters@example.be", date(2026, 12, 1))
    assert [h.evidence for h in found] == [
        "feiten mogelijk ouder dan een jaar: vermeldt '3 MAART 2024' (ontvangen op 01/12/2026)"
    ]
