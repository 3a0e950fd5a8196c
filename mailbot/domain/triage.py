"""Suggestions for the staff notice: which inadmissibility reasons a new complaint might
fall under, each with the words that gave the idea.

These are hints, never decisions (DOMAIN.md): the coordinator reads the evidence and
decides. Every rule therefore errs on the side of saying less; a notice full of wrong
hints teaches the coordinator to ignore all of them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from mailbot.domain.commands import InadmissibleReason
from mailbot.domain.old_facts import old_facts
from mailbot.domain.quoting import trim_quoted
from mailbot.domain.reference import strip_reply_prefixes
from mailbot.domain.textscan import fold

# Keywords are matched as whole words or phrases, case-insensitively. A '*' at the end
# (or start) of a keyword also matches longer words: "sluikstort*" finds "sluikstorten",
# "*overlast" finds "geluidsoverlast". Dutch glues words together, so stems matter; but
# "put" stays whole, or every "input" and "putten" (to draw water) would count.
MELDING_WORDS: tuple[str, ...] = (
    "afval",
    "afvalophaling",
    "huisvuil",
    "vuilnis*",
    "container",
    "containers",
    "pmd",
    "gft",
    "glasbol*",
    "put",
    "putten",
    "put in de weg",
    "gat in de weg",
    "gaten in de weg",
    "straatlamp*",
    "lantaarnpa*",
    "straatverlichting",
    "verlichting",
    "sluikstort*",
    "zwerfvuil",
    "snelheid",
    "te snel",
    "snelheidsduivel*",
    "overlast",
    "*overlast",
    "lawaai",
    "hondenpoep",
    "hondenpoep*",
    "onkruid",
    "riool*",
    "rioolput*",
    "losliggende tegel*",
    "verstopt",
)
INFORMATIE_WORDS: tuple[str, ...] = (
    "graag info",
    "graag informatie",
    "meer informatie",
    "wanneer is",
    "hoe kan ik",
    "hoe moet ik",
    "waar kan ik",
    "openingsuren",
    "openingstijden",
    # "vraag" alone is in half of all complaints ("mijn vraag bleef onbeantwoord")
    "ik heb een vraag over",
    "ik had een vraag over",
    "graag had ik geweten",
    "graag zou ik weten",
    "mag ik vragen",
    "kan je mij laten weten",
    "kunt u mij laten weten",
)
SUGGESTIE_WORDS: tuple[str, ...] = (
    "suggestie*",
    "voorstel",
    "ik stel voor",
    "stel ik voor",
    "zou willen voorstellen",
    "zou het niet beter zijn",
    "zou het niet handiger zijn",
    # "idee" alone would also fire on "ik heb geen idee wanneer …", which is a complaint
    "een idee",
    "mijn idee",
)
GERECHT_WORDS: tuple[str, ...] = (
    "advocaat",
    "advocate",
    "rechtbank",
    "dagvaarding",
    "gedagvaard",
    "gerechtelijke",
    "gerechtelijk",
    "procedure bij",
    "vrederechter",
    "rechtszaak",
    "raad van state",
    "juridische stappen",
)
# "gepost" is left out: in Flemish a letter is "gepost" too.
SOCIALE_MEDIA_WORDS: tuple[str, ...] = (
    "facebook",
    "instagram",
    "twitter",
    "x.com",
    "tiktok",
    "linkedin",
    "op sociale media",
    "sociale media",
)
ANONYMOUS_NAMES: tuple[str, ...] = (
    "anoniem",
    "anonymous",
    "anon",
    "onbekend",
    "unknown",
    "noname",
    "no name",
    "niemand",
    "nobody",
    "x",
    "xx",
    "xxx",
    "burger",
    "een burger",
    "bezorgde burger",
    "een bezorgde burger",
    "inwoner",
    "een inwoner",
    "bezorgde inwoner",
    "een bezorgde inwoner",
    "buurtbewoner",
    "een buurtbewoner",
)
# Local parts that say "nobody" (compared without digits and separators, as a prefix).
ANONYMOUS_LOCAL_PARTS: tuple[str, ...] = (
    "anon",
    "noname",
    "nobody",
    "niemand",
    "onbekend",
    "unknown",
)
# A domain matches when it equals an entry or is a subdomain of it; an entry without a dot
# matches any domain that contains it ("guerrillamail" covers .com, .net, .de …).
THROWAWAY_DOMAINS: tuple[str, ...] = (
    "mailinator",
    "yopmail",
    "guerrillamail",
    "sharklasers.com",
    "10minutemail",
    "temp-mail",
    "tempmail",
    "trashmail",
    "dispostable.com",
    "maildrop.cc",
    "getnada.com",
    "throwawaymail.com",
    "fakeinbox.com",
    "mohmal.com",
    "emailondeck.com",
)
# Words that say nothing about what a subject is about.
SUBJECT_STOPWORDS: tuple[str, ...] = (
    *"de het een en van in op te met voor aan over is zijn niet wel geen bij naar om dat die"
    " dit deze er ook nog al maar dan als wat wie waar hoe wanneer waarom mijn mij me ik je"
    " jij u uw we wij ons onze hun hen zij ze hij haar hem heb heeft hebben had was waren"
    " wordt worden werd kan kunnen moet moeten zou zal nu reeds tot door uit tegen na sinds"
    " zonder steeds altijd nooit opnieuw weer".split(),
    *"klacht klachten dossier gemeente ocmw probleem problemen vraag vragen graag betreft"
    " inzake ivm dienst diensten antwoord reactie mail email brief formulier re antw fwd"
    " doorst".split(),
)


@dataclass(frozen=True)
class TriageKeywords:
    """Word lists for the hints; each field defaults to the module constant of that name,
    so configuration can replace one list and keep the rest."""

    melding: tuple[str, ...] = MELDING_WORDS
    informatie: tuple[str, ...] = INFORMATIE_WORDS
    suggestie: tuple[str, ...] = SUGGESTIE_WORDS
    gerecht: tuple[str, ...] = GERECHT_WORDS
    sociale_media: tuple[str, ...] = SOCIALE_MEDIA_WORDS
    anonymous_names: tuple[str, ...] = ANONYMOUS_NAMES
    anonymous_local_parts: tuple[str, ...] = ANONYMOUS_LOCAL_PARTS
    throwaway_domains: tuple[str, ...] = THROWAWAY_DOMAINS
    subject_stopwords: tuple[str, ...] = SUBJECT_STOPWORDS


DEFAULT_KEYWORDS = TriageKeywords()


@dataclass(frozen=True)
class Hint:
    reason: InadmissibleReason
    evidence: str  # Dutch, for the staff notice: what the hint is based on


# --- keywords ------------------------------------------------------------------------------

# What the notice says for each keyword list.
_KEYWORD_LABELS: dict[InadmissibleReason, str] = {
    InadmissibleReason.INFORMATIE: "lijkt een vraag om informatie",
    InadmissibleReason.MELDING: "lijkt een melding",
    InadmissibleReason.SUGGESTIE: "lijkt een suggestie",
    InadmissibleReason.GERECHT: "mogelijk een gerechtelijke procedure",
    InadmissibleReason.SOCIALE_MEDIA: "mogelijk via sociale media",
}
_MAX_EVIDENCE = 3  # words quoted per hint; more makes the notice unreadable
# Hints only read the start of a long mail: the evidence that matters is there, and a
# hostile megabyte of text must not hold up intake.
_MAX_SCAN = 20_000


def _keyword_regex(keyword: str) -> str:
    text = keyword.strip()
    prefix = r"\w*" if text.startswith("*") else ""
    suffix = r"\w*" if text.endswith("*") else ""
    phrase = r"\s+".join(map(re.escape, text.strip("*").split()))
    return f"{prefix}{phrase}{suffix}"


@functools.lru_cache(maxsize=256)
def _keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    usable = [k for k in keywords if k.strip("* ")]
    if not usable:
        return None
    # Longest first, so "put in de weg" is quoted rather than "put".
    usable.sort(key=len, reverse=True)
    alternatives = "|".join(_keyword_regex(k) for k in usable)
    # The word-start test comes once, before the alternatives, so a position inside a
    # word is rejected in one step rather than once per keyword. '@' on either side is an
    # e-mail address ("an@x.com"), not a mention of X.
    return re.compile(rf"(?<![\w@])(?:{alternatives})(?![\w@])", re.IGNORECASE)


@functools.lru_cache(maxsize=64)
def _keyword_words(
    keywords: tuple[str, ...],
) -> tuple[tuple[tuple[str, frozenset[str]], ...], frozenset[str]]:
    """Each keyword with the literal words it needs that `may_contain` can test, and all
    those words together (each is looked for in a mail once)."""
    each = tuple(
        (k, frozenset(w for w in k.strip().strip("*").lower().split() if w.isascii()))
        for k in keywords
    )
    return each, frozenset().union(*(words for _k, words in each))


def _mentions(text: str, keywords: tuple[str, ...], folded: str | None = None) -> list[str]:
    """The keywords the text mentions, as written, in order, once each. `folded`:
    `textscan.fold(text)` if the caller has it. Only the keywords whose words are all
    in the text go into the pattern: one that cannot match anywhere changes nothing,
    and most complaints name none of a list (textscan.py)."""
    folded = fold(text) if folded is None else folded
    each, words = _keyword_words(keywords)
    present = {word for word in words if word in folded}  # may_contain, inlined
    candidates = tuple(keyword for keyword, needed in each if needed <= present)
    pattern = _keyword_pattern(candidates) if candidates else None
    if pattern is None:
        return []
    found: list[str] = []
    seen: set[str] = set()
    for match in pattern.finditer(text):
        word = " ".join(match.group(0).split())
        if word.lower() not in seen:
            seen.add(word.lower())
            found.append(word)
    return found


def _quoted(words: Sequence[str]) -> str:
    return ", ".join(f"'{w}'" for w in words[:_MAX_EVIDENCE])


# --- anonymity -----------------------------------------------------------------------------


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _plain_name(name: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", _fold(name)))


def _throwaway_domain(domain: str, keywords: TriageKeywords) -> bool:
    for entry in keywords.throwaway_domains:
        entry = entry.lower().strip()
        if not entry:
            continue
        if "." in entry:
            if domain == entry or domain.endswith("." + entry):
                return True
        elif entry in domain:
            return True
    return False


def _random_local_part(local: str) -> bool:
    compact = re.sub(r"[._+-]", "", local)
    digits = sum(c.isdigit() for c in compact)
    if compact.isdigit() and len(compact) >= 4:
        return True
    if digits >= 6 and digits * 2 > len(compact):
        return True
    letters = re.sub(r"[^a-z]", "", compact)
    # A long run of letters without a vowel is a keyboard mash, not a name.
    return len(letters) >= 6 and re.search(r"[aeiouy]", letters) is None


def _signed(local: str, body: str) -> bool:
    """Whether the body carries a name that is part of the address (jan.peeters@…
    signed "Jan Peeters"): then a missing display name is no sign of anonymity."""
    folded_local = _fold(local)
    for word in re.findall(r"\b[^\W\d_][^\W\d_]{2,}\b", body):
        if word[0].isupper() and _fold(word) in folded_local:
            return True
    return False


@functools.lru_cache(maxsize=16)
def _plain_names(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_plain_name(n) for n in names)


def _anonymity(name: str, email: str, body: str, keywords: TriageKeywords) -> str | None:
    email = email.strip().lower()
    local, _, domain = email.rpartition("@")
    name = name.strip()
    if "@" in name:
        name = ""  # clients that show the address as the name tell us nothing more
    if name and _plain_name(name) in _plain_names(keywords.anonymous_names):
        return f"mogelijk anoniem: naam '{name}'"
    if email and _throwaway_domain(domain, keywords):
        return f"mogelijk anoniem: wegwerpadres '{email}'"
    compact = re.sub(r"[\d._+-]", "", _fold(local))
    if local and (
        any(compact.startswith(p) for p in keywords.anonymous_local_parts if p)
        or _random_local_part(local)
    ):
        return f"mogelijk anoniem: adres '{email}' draagt geen naam"
    if name:
        return None
    if not email:
        return "mogelijk anoniem: geen naam en geen e-mailadres opgegeven"
    if not _signed(local, body):
        return f"mogelijk anoniem: geen naam opgegeven en niet ondertekend ({email})"
    return None


# --- earlier closed cases ------------------------------------------------------------------

_JACCARD = 0.5
_DISTINCTIVE = 9  # a shared word this long (a Dutch compound) is specific enough alone


def _stem(word: str) -> str:
    # Plural endings only: "parkeerkaarten" and "parkeerkaart" are the same subject.
    if len(word) > 5 and word.endswith("en"):
        return word[:-2]
    if len(word) > 4 and word.endswith("s"):
        return word[:-1]
    return word


def _subject_words(subject: str, stopwords: frozenset[str]) -> dict[str, str]:
    """stem -> the word as first written."""
    words: dict[str, str] = {}
    for word in re.findall(r"[^\W\d_]+", strip_reply_prefixes(subject)):
        folded = _fold(word)
        if len(folded) < 3 or folded in stopwords:
            continue
        words.setdefault(_stem(folded), word.lower())
    return words


@functools.lru_cache(maxsize=16)
def _stopwords(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_fold(w) for w in words)


def _similar_cases(
    subject: str, earlier: Sequence[tuple[str, str]], keywords: TriageKeywords
) -> list[Hint]:
    if not earlier:  # most complaints come from someone with no closed case
        return []
    stopwords = _stopwords(keywords.subject_stopwords)
    current = _subject_words(subject, stopwords)
    if not current:
        return []
    scored: list[tuple[float, int, Hint]] = []
    for position, (reference, old_subject) in enumerate(earlier):
        old = _subject_words(old_subject, stopwords)
        shared = current.keys() & old.keys()
        if not shared:
            continue
        jaccard = len(shared) / len(current.keys() | old.keys())
        if jaccard < _JACCARD and not any(len(s) >= _DISTINCTIVE for s in shared):
            continue
        words = sorted((current[s] for s in shared), key=lambda w: (-len(w), w))
        evidence = (
            f"lijkt op eerder afgesloten {reference} '{strip_reply_prefixes(old_subject)}': "
            f"zelfde woorden {_quoted(words)}"
        )
        scored.append((-jaccard, position, Hint(InadmissibleReason.EERDER, evidence)))
    return [hint for *_, hint in sorted(scored, key=lambda s: (s[0], s[1]))]


# --- all together --------------------------------------------------------------------------


def hints(
    subject: str,
    body: str,
    sender_name: str,
    sender_email: str,
    received_on: date,
    keywords: TriageKeywords = DEFAULT_KEYWORDS,
    earlier_closed: Sequence[tuple[str, str]] = (),
) -> list[Hint]:
    """Hints in the order of the reasons on the municipal page; at most one per reason,
    except one per similar earlier case.

    earlier_closed: (reference, subject) of this citizen's closed cases.
    """
    body = trim_quoted(body[: _MAX_SCAN * 4])[:_MAX_SCAN]
    text = f"{subject[:_MAX_SCAN]}\n{body}"
    folded = fold(text)
    found: dict[InadmissibleReason, Hint] = {}
    keyword_lists = {
        InadmissibleReason.INFORMATIE: keywords.informatie,
        InadmissibleReason.MELDING: keywords.melding,
        InadmissibleReason.SUGGESTIE: keywords.suggestie,
        InadmissibleReason.GERECHT: keywords.gerecht,
        InadmissibleReason.SOCIALE_MEDIA: keywords.sociale_media,
    }
    for reason, words_to_find in keyword_lists.items():
        words = _mentions(text, words_to_find, folded)
        if words:
            label = _KEYWORD_LABELS[reason]
            found[reason] = Hint(reason, f"{label}: vermeldt {_quoted(words)}")
    anonymous = _anonymity(sender_name, sender_email, body, keywords)
    if anonymous:
        found[InadmissibleReason.ANONIEM] = Hint(InadmissibleReason.ANONIEM, anonymous)
    old = old_facts(text, received_on)
    if old:
        found[InadmissibleReason.OUD] = Hint(InadmissibleReason.OUD, old)
    ordered: list[Hint] = []
    for reason in InadmissibleReason:
        if reason is InadmissibleReason.EERDER:
            ordered.extend(_similar_cases(subject, earlier_closed, keywords))
        elif reason in found:
            ordered.append(found[reason])
    return ordered
