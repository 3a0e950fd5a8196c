"""Messy headers and charsets: raw 8-bit headers, lying labels, missing or broken fields."""

from __future__ import annotations

from support.mailfactory.build import complaint, crlf


def plain_utf8_dutch() -> bytes:
    return complaint(
        "Françoise Dubois",
        "F.Dubois@Telenet.be",
        "Klacht over de dienst Burgerzaken – wachttijd",
        "Geachte,\n\nIk heb op 24 februari meer dan twee uur gewacht aan het loket.\n"
        "Dat is onaanvaardbaar voor een eenvoudige aanvraag van een identiteitskaart.\n\n"
        "Met vriendelijke groeten,\nFrançoise Dubois\n",
        message_id="20260302091500.abc123@telenet.be",
    )


def latin1_raw_headers() -> bytes:
    """An old client that writes ISO-8859-1 straight into the headers (no RFC 2047)."""
    return crlf(
        b"From: Jos\xe9 Peeters <Jose.Peeters@Skynet.BE>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Geluidsoverlast caf\xe9 't Hoekske\n"
        b"Date: Mon, 2 Mar 2026 22:41:07 +0100\n"
        b"Message-ID: <latin1-1@skynet.be>\n"
        b"MIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=iso-8859-1\n"
        b"Content-Transfer-Encoding: 8bit\n"
        b"\n"
        b"Elke avond tot 2 uur 's nachts lawaai aan het caf\xe9.\n"
        b"Wij kunnen niet slapen.\n"
    )


def cp1252_smart_quotes_header() -> bytes:
    """Windows-1252 en dash and curly quotes written raw in Subject and From."""
    return crlf(
        b'From: "Fran\xe7oise Dubois" <francoise.dubois@proximus.be>\n'
        b"To: klachten@stad.example.be\n"
        b"Subject: Klacht over de dienst Burgerzaken \x96 wachttijd \x93onaanvaardbaar\x94\n"
        b"Date: Tue, 3 Mar 2026 08:02:00 +0100\n"
        b"Message-ID: <cp1252-1@proximus.be>\n"
        b"Content-Type: text/plain; charset=windows-1252\n"
        b"\n"
        b"Ik wacht al \x93veel te lang\x94 \x96 dit kan niet.\n"
    )


def utf8_raw_headers() -> bytes:
    """RFC 6532 style: raw UTF-8 in headers, folded Subject."""
    return crlf(
        "From: José Peeters <jose@example.be>\n"
        "To: Stad Gent – Klachten <klachten@stad.example.be>\n"
        "Subject: Klacht over de dienst Burgerzaken –\n"
        "\twachttijd\n"
        "Date: Tue, 3 Mar 2026 10:00:00 +0100\n"
        "Message-ID: <utf8-raw-1@example.be>\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Één loket open voor twintig mensen.\n".encode()
    )


def rfc2047_q_and_b() -> bytes:
    """Encoded-words in Q and B, a multi-byte character split over two words, a CC list."""
    return crlf(
        b"From: =?ISO-8859-1?B?RnJhbudvaXNlIER1Ym9pcw==?= <francoise@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b'Cc: "Peeters, Jan" <JAN.PEETERS@example.be>, =?utf-8?Q?Ren=C3=A9e?= '
        b"<renee@example.be>\n"
        b"Reply-To: =?utf-8?q?Fran=C3=A7oise_priv=C3=A9?= <fd@private.example>\n"
        b"Subject: =?utf-8?Q?Klacht_over_de_dienst_Burgerzaken_=E2=80=93_?=\n"
        b" =?utf-8?B?d2FjaHR0aWpk?=\n"
        b"Date: Wed, 4 Mar 2026 14:30:00 +0100\n"
        b"Message-ID: <rfc2047-1@example.be>\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: quoted-printable\n"
        b"\n"
        b"De wachttijd was 2 uur =E2=80=93 veel te lang.\n"
    )


def unknown_charset() -> bytes:
    """Charset labels nobody knows, in an encoded-word and on the body."""
    return crlf(
        b"From: =?x-unknown?Q?Ren=E9_Lef=E8vre?= <rene@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: =?x-unknown?Q?Caf=E9_De_Klok_=96_terras?=\n"
        b"Date: Wed, 4 Mar 2026 16:00:00 +0100\n"
        b"Message-ID: <unknown-charset-1@example.be>\n"
        b'Content-Type: text/plain; charset="x-mac-foo"\n'
        b"Content-Transfer-Encoding: 8bit\n"
        b"\n"
        b"Het terras van caf\xe9 De Klok staat op het voetpad \x96 rolstoelen kunnen er "
        b"niet door.\n"
    )


def windows1252_body_labelled_latin1() -> bytes:
    """Outlook's classic lie: cp1252 smart quotes and euro sign labelled iso-8859-1."""
    return crlf(
        b"From: Marc Janssens <marc@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Parkeerboete\n"
        b"Date: Thu, 5 Mar 2026 09:00:00 +0100\n"
        b"Message-ID: <cp1252-body-1@example.be>\n"
        b"Content-Type: text/plain; charset=iso-8859-1\n"
        b"Content-Transfer-Encoding: quoted-printable\n"
        b"\n"
        b"Ik kreeg een boete van 58 =80 terwijl het bord =93betalend parkeren=94 =\n"
        b"onleesbaar was.\n"
    )


def missing_from() -> bytes:
    return crlf(
        b"To: klachten@stad.example.be\n"
        b"Subject: Anonieme melding\n"
        b"Date: Sat, 7 Mar 2026 10:00:00 +0100\n"
        b"Message-ID: <nofrom-1@example.be>\n"
        b"\n"
        b"Er wordt afval gedumpt achter de sporthal.\n"
    )


def missing_date() -> bytes:
    return crlf(
        b"From: Tom Maes <tom@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Straatverlichting defect\n"
        b"Message-ID: <nodate-1@example.be>\n"
        b"\n"
        b"De straatlamp voor nummer 12 brandt al een maand niet.\n"
    )


def date_without_zone() -> bytes:
    return crlf(
        b"From: Tom Maes <tom@example.be>\n"
        b"Subject: Straatverlichting\n"
        b"Date: 7 Mar 2026 10:00:00\n"
        b"Message-ID: <nozone-1@example.be>\n"
        b"\n"
        b"Nog steeds defect.\n"
    )


def missing_message_id() -> bytes:
    return crlf(
        b"From: Sara Jacobs <sara@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Zwerfvuil\n"
        b"Date: Sat, 7 Mar 2026 11:00:00 +0100\n"
        b"\n"
        b"Het park ligt vol zwerfvuil.\n"
    )


def repeated_headers() -> bytes:
    """Two Subject and two Message-ID headers: the first of each counts."""
    return crlf(
        b"From: Bart Mertens <bart@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Eerste onderwerp\n"
        b"Message-ID: <first@example.be>\n"
        b"Date: Sun, 8 Mar 2026 09:00:00 +0100\n"
        b"Subject: Tweede onderwerp\n"
        b"Message-ID: <second@example.be>\n"
        b"\n"
        b"Body.\n"
    )


def broken_from_missing_bracket() -> bytes:
    return crlf(
        b'From: "Jan" <Jan@Example.be\n'
        b"To: klachten@stad.example.be, Kabinet <kabinet@stad.example.be\n"
        b"Subject: Boom omgevallen\n"
        b"Date: Wed, 11 Mar 2026 07:00:00 +0100\n"
        b"Message-ID: <brokenfrom-1@example.be>\n"
        b"\n"
        b"Er ligt een boom over de weg.\n"
    )


def bare_address_from() -> bytes:
    return crlf(
        b"From: Greet.Hermans@Example.BE\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Bare address\n"
        b"Date: Wed, 11 Mar 2026 07:30:00 +0100\n"
        b"Message-ID: <bare-1@example.be>\n"
        b"\n"
        b"Tekst.\n"
    )


def truncated_encoded_word() -> bytes:
    """A truncated base64 encoded-word in From: mail-parser 4.8.0 raises HeaderParseError."""
    return crlf(
        b"From: =?utf-8?B?Sm9zw6kgUGVldGVycw?= =?utf-8?B?S?= <jose@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: =?utf-8?B?Q2Fmw6k=?= De Klok\n"
        b"Date: Wed, 11 Mar 2026 09:00:00 +0100\n"
        b"Message-ID: <truncated-word-1@example.be>\n"
        b"\n"
        b"Tekst na een kapotte afzender.\n"
    )


def nul_bytes_lf_only() -> bytes:
    """LF line ends, a NUL byte in the body (PostgreSQL text cannot hold it), CR-only lines."""
    return (
        b"From: Wim <wim@example.be>\n"
        b"Subject: Tabs\tand\n  folded   spaces\n"
        b"Date: Wed, 11 Mar 2026 08:00:00 +0100\n"
        b"Message-ID: <nul-1@example.be>\n"
        b"\n"
        b"Eerste regel\x00\rTweede regel\r\nDerde regel   \n\n\n"
    )
