"""Raw mails for tests: one ordinary builder and a corpus of the messy mail the desk gets.

``complaint()`` builds a well-formed UTF-8 mail for any test that needs "a citizen's mail".
The other functions return hand-written bytes, because the interesting cases (raw 8-bit
headers, lying charset labels, broken multiparts) cannot be produced by a correct library.
Every function returns the message as IMAP delivers it: bytes, CRLF line ends unless the
case is about something else. Import it like the other helpers here (pytest puts tests/ on
sys.path): ``import mailfactory`` or ``from mailfactory import complaint``.
"""

from __future__ import annotations

import base64
import email.policy
import quopri
from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

MAILBOX = "klachten@stad.example.be"

# A tiny but real PDF and JPEG header, so size and content assertions mean something.
PDF_BYTES = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
JPEG_BYTES = bytes.fromhex("ffd8ffe000104a46494600010100000100010000") + bytes(range(256)) * 3


def _crlf(text: bytes) -> bytes:
    """Hand-written mails are written with LF; IMAP hands them over with CRLF."""
    return text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data)


def complaint(
    sender_name: str,
    sender_email: str,
    subject: str,
    body: str,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    date: datetime | None = None,
) -> bytes:
    """An ordinary, well-formed complaint mail (UTF-8 text/plain, CRLF).

    ``message_id`` and ``in_reply_to`` are given without angle brackets.
    """
    msg = EmailMessage()
    msg["From"] = formataddr((sender_name, sender_email))
    msg["To"] = MAILBOX
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime.fromisoformat("2026-03-02T09:15:00+01:00"))
    msg["Message-ID"] = f"<{message_id or 'complaint-1@mail.example.be'}>"
    if in_reply_to is not None:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
        msg["References"] = f"<{in_reply_to}>"
    for name, value in (extra_headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes(policy=email.policy.SMTP)


# --- the corpus ----------------------------------------------------------------------------


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
    return _crlf(
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
    return _crlf(
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
    return _crlf(
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
    return _crlf(
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
    return _crlf(
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
    return _crlf(
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


OUTLOOK_HTML = (
    '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>'
    '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
    "<style><!-- p.MsoNormal {margin:0cm; font-family:Calibri} --></style>"
    '<!--[if gte mso 9]><xml><o:shapedefaults v:ext="edit" spidmax="1026" /></xml>'
    "<![endif]--></head>"
    '<body lang="NL-BE"><div class="WordSection1">'
    '<p class="MsoNormal">Geachte heer, mevrouw,<o:p></o:p></p>'
    '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
    '<p class="MsoNormal">Sinds drie weken ligt er een <b>diepe put</b> in de '
    "Kerkstra\xdfe \u2013 gevaarlijk voor fietsers.<o:p></o:p></p>"
    '<p class="MsoNormal">1. Eerste melding: 12 februari<br>2. Tweede melding: 19 februari</p>'
    '<p class="MsoNormal">Zie <a href="https://www.stad.example.be/meldingen">uw website</a>'
    ' <img src="cid:image001.png@01DA0000" alt="logo"></p>'
    '<p class="MsoNormal">Met vriendelijke groeten,<o:p></o:p></p>'
    '<p class="MsoNormal">Ren\xe9 Lef\xe8vre</p></div></body></html>'
)


def html_only_outlook() -> bytes:
    """HTML without a text alternative, quoted-printable, windows-1252."""
    html = quopri.encodestring(OUTLOOK_HTML.encode("cp1252"))
    return _crlf(
        b"From: =?windows-1252?Q?Ren=E9_Lef=E8vre?= <rene.lefevre@outlook.example>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Put in de Kerkstraat\n"
        b"Date: Thu, 5 Mar 2026 11:20:00 +0000\n"
        b"Message-ID: <DB9PR01MB0001.eurprd01.prod.outlook.com>\n"
        b"Content-Type: text/html; charset=windows-1252\n"
        b"Content-Transfer-Encoding: quoted-printable\n"
        b"X-MS-Has-Attach:\n"
        b"\n" + html
    )


def multipart_alternative() -> bytes:
    return _crlf(
        b"From: An Claes <an.claes@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Afvalophaling vergeten\n"
        b"Date: Fri, 6 Mar 2026 07:45:00 +0100\n"
        b"Message-ID: <alt-1@example.be>\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/alternative; boundary="=_alt_boundary"\n'
        b"\n"
        b"This is a multi-part message in MIME format.\n"
        b"--=_alt_boundary\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: 8bit\n"
        b"\n"
        b"Onze straat werd deze week overgeslagen bij de ophaling van het restafval.\n"
        b"--=_alt_boundary\n"
        b"Content-Type: text/html; charset=utf-8\n"
        b"\n"
        b"<p>HTML-versie: onze straat werd <b>overgeslagen</b>.</p>\n"
        b"--=_alt_boundary--\n"
    )


def attachments_pdf_jpeg() -> bytes:
    """Text, a PDF, a JPEG named per RFC 2231, an Outlook RFC 2047 name, an inline image."""
    return _crlf(
        b"From: Pieter De Smet <pieter@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Foto's van de beschadigde stoep\n"
        b"Date: Fri, 6 Mar 2026 12:00:00 +0100\n"
        b"Message-ID: <att-1@example.be>\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="MIX"\n'
        b"\n"
        b"--MIX\n"
        b'Content-Type: multipart/related; boundary="REL"\n'
        b"\n"
        b"--REL\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"\n"
        b"In bijlage de foto's en mijn brief.\n"
        b"--REL\n"
        b"Content-Type: image/png\n"
        b"Content-ID: <logo@example.be>\n"
        b"Content-Disposition: inline\n"
        b"Content-Transfer-Encoding: base64\n"
        b"\n" + _b64(b"\x89PNG\r\n\x1a\nlogo") + b"--REL--\n"
        b"--MIX\n"
        b'Content-Type: application/pdf; name="klacht.pdf"\n'
        b'Content-Disposition: attachment; filename="klacht.pdf"\n'
        b"Content-Transfer-Encoding: base64\n"
        b"\n" + _b64(PDF_BYTES) + b"--MIX\n"
        b"Content-Type: image/jpeg\n"
        b"Content-Disposition: attachment;\n"
        b" filename*=UTF-8''foto%20stra%C3%9Fe.jpg\n"
        b"Content-Transfer-Encoding: base64\n"
        b"\n" + _b64(JPEG_BYTES) + b"--MIX\n"
        b"Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document;\n"
        b' name="=?utf-8?B?YnJpZWYgYWFuIGRlIHNjaGVwZW4uZG9jeA==?="\n'
        b"Content-Disposition: attachment;\n"
        b' filename="=?utf-8?B?YnJpZWYgYWFuIGRlIHNjaGVwZW4uZG9jeA==?="\n'
        b"Content-Transfer-Encoding: base64\n"
        b"\n" + _b64(b"PK\x03\x04docx") + b"--MIX--\n"
    )


def text_attachments() -> bytes:
    """A CSV with a filename and Outlook's trailing ATT00001.txt are attachments, not body."""
    return _crlf(
        b"From: Lies Wouters <lies@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Lijst handtekeningen\n"
        b"Date: Fri, 6 Mar 2026 12:30:00 +0100\n"
        b"Message-ID: <att-2@example.be>\n"
        b'Content-Type: multipart/mixed; boundary="X"\n'
        b"\n"
        b"--X\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"\n"
        b"Petitie van de buurtbewoners in bijlage.\n"
        b"--X\n"
        b'Content-Type: text/csv; charset=utf-8; name="handtekeningen.csv"\n'
        b'Content-Disposition: attachment; filename="handtekeningen.csv"\n'
        b"\n"
        b"naam;straat\nJan;Kerkstraat 1\n"
        b"--X\n"
        b"Content-Type: text/plain; charset=us-ascii\n"
        b"Content-Disposition: attachment\n"
        b"\n"
        b"Outlook footer\n"
        b"--X--\n"
    )


def missing_from() -> bytes:
    return _crlf(
        b"To: klachten@stad.example.be\n"
        b"Subject: Anonieme melding\n"
        b"Date: Sat, 7 Mar 2026 10:00:00 +0100\n"
        b"Message-ID: <nofrom-1@example.be>\n"
        b"\n"
        b"Er wordt afval gedumpt achter de sporthal.\n"
    )


def missing_date() -> bytes:
    return _crlf(
        b"From: Tom Maes <tom@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Straatverlichting defect\n"
        b"Message-ID: <nodate-1@example.be>\n"
        b"\n"
        b"De straatlamp voor nummer 12 brandt al een maand niet.\n"
    )


def date_without_zone() -> bytes:
    return _crlf(
        b"From: Tom Maes <tom@example.be>\n"
        b"Subject: Straatverlichting\n"
        b"Date: 7 Mar 2026 10:00:00\n"
        b"Message-ID: <nozone-1@example.be>\n"
        b"\n"
        b"Nog steeds defect.\n"
    )


def missing_message_id() -> bytes:
    return _crlf(
        b"From: Sara Jacobs <sara@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Zwerfvuil\n"
        b"Date: Sat, 7 Mar 2026 11:00:00 +0100\n"
        b"\n"
        b"Het park ligt vol zwerfvuil.\n"
    )


def repeated_headers() -> bytes:
    """Two Subject and two Message-ID headers: the first of each counts."""
    return _crlf(
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


def broken_multipart_no_close() -> bytes:
    """The closing boundary never comes (a truncated upload from a webmail)."""
    return _crlf(
        b"From: Els Goossens <els@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Hondenpoep\n"
        b"Date: Sun, 8 Mar 2026 10:00:00 +0100\n"
        b"Message-ID: <noclose-1@example.be>\n"
        b'Content-Type: multipart/mixed; boundary="B1"\n'
        b"\n"
        b"--B1\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"\n"
        b"Op het speelplein ligt overal hondenpoep.\n"
        b"--B1\n"
        b'Content-Type: image/jpeg; name="speelplein.jpg"\n'
        b"Content-Transfer-Encoding: base64\n"
        b"\n" + _b64(JPEG_BYTES)
    )


def multipart_without_boundary() -> bytes:
    """Content-Type multipart/mixed but no boundary parameter at all."""
    return _crlf(
        b"From: Koen Willems <koen@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Bus te laat\n"
        b"Date: Sun, 8 Mar 2026 11:00:00 +0100\n"
        b"Message-ID: <noboundary-1@example.be>\n"
        b"Content-Type: multipart/mixed\n"
        b"\n"
        b"--=_Part_0_1\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"\n"
        b"De bus van 7u12 is elke dag te laat.\n"
        b"--=_Part_0_1\n"
        b'Content-Type: application/pdf; name="uurrooster.pdf"\n'
        b"Content-Transfer-Encoding: base64\n"
        b"\n" + _b64(PDF_BYTES) + b"--=_Part_0_1--\n"
    )


_FORWARDED = (
    b"From: Buurman <buurman@example.be>\n"
    b"To: bewonersgroep@example.be\n"
    b"Subject: =?utf-8?Q?Lawaai_werf_Stationsstra=C3=9Fe?=\n"
    b"Date: Mon, 9 Mar 2026 06:10:00 +0100\n"
    b"Message-ID: <inner-1@example.be>\n"
    b"Content-Type: text/plain; charset=utf-8\n"
    b"\n"
    b"De werf begint elke dag om 6 uur.\n"
)


def forwarded_rfc822() -> bytes:
    return _crlf(
        b"From: Hilde Vermeulen <hilde@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Fwd: Lawaai werf\n"
        b"Date: Mon, 9 Mar 2026 08:00:00 +0100\n"
        b"Message-ID: <fwd-1@example.be>\n"
        b'Content-Type: multipart/mixed; boundary="F"\n'
        b"\n"
        b"--F\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"\n"
        b"Zie de doorgestuurde mail van mijn buurman.\n"
        b"--F\n"
        b"Content-Type: message/rfc822\n"
        b"Content-Disposition: attachment\n"
        b"\n" + _FORWARDED + b"--F--\n"
    )


def forward_only() -> bytes:
    """Nothing but the forwarded mail: its text becomes the body."""
    return _crlf(
        b"From: Hilde Vermeulen <hilde@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Fwd: Lawaai werf\n"
        b"Date: Mon, 9 Mar 2026 08:05:00 +0100\n"
        b"Message-ID: <fwd-2@example.be>\n"
        b'Content-Type: multipart/mixed; boundary="F"\n'
        b"\n"
        b"--F\n"
        b"Content-Type: message/rfc822\n"
        b"\n" + _FORWARDED + b"--F--\n"
    )


def base64_encoded_rfc822() -> bytes:
    """A gateway that base64-encodes message/rfc822, which RFC 2046 §5.2.1 forbids."""
    return _crlf(
        b"From: Hilde Vermeulen <hilde@example.be>\n"
        b"Subject: Fwd: Lawaai werf\n"
        b"Date: Mon, 9 Mar 2026 08:06:00 +0100\n"
        b"Message-ID: <fwd-3@example.be>\n"
        b'Content-Type: multipart/mixed; boundary="F"\n'
        b"\n"
        b"--F\n"
        b"Content-Type: message/rfc822\n"
        b"Content-Transfer-Encoding: base64\n"
        b"\n" + _b64(_crlf(_FORWARDED)) + b"--F--\n"
    )


def reply_with_references() -> bytes:
    return _crlf(
        b"From: Jan Peeters <jan.peeters@example.be>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: RE: Ontvangstmelding KL-2026-0042\n"
        b"Date: Tue, 10 Mar 2026 13:00:00 +0100\n"
        b"Message-ID: <reply-1@example.be>\n"
        b"In-Reply-To: <receipt-KL-2026-0042@stad.example.be> (Stad's message of 10 March)\n"
        b"References: <complaint-1@example.be>\n"
        b"\t<receipt-KL-2026-0042@stad.example.be><notice-7@stad.example.be>\n"
        b"\n"
        b"Bedankt, hier nog een bijkomende foto.\n"
        b"\n"
        b"> Beste Jan,\n"
        b"> Wij hebben uw klacht goed ontvangen.\n"
    )


def bounce_dsn() -> bytes:
    """A Postfix DSN (RFC 3464) for our receipt, with the original returned in full."""
    return _crlf(
        b"From: MAILER-DAEMON@mx.stad.example.be (Mail Delivery System)\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Undelivered Mail Returned to Sender\n"
        b"Date: Tue, 10 Mar 2026 14:00:05 +0100\n"
        b"Message-ID: <20260310130005.ABC12@mx.stad.example.be>\n"
        b"Auto-Submitted: auto-replied\n"
        b"MIME-Version: 1.0\n"
        b"Content-Type: multipart/report; report-type=delivery-status;\n"
        b'\tboundary="ABC12.1773147605/mx.stad.example.be"\n'
        b"\n"
        b"This is a MIME-encapsulated message.\n"
        b"\n"
        b"--ABC12.1773147605/mx.stad.example.be\n"
        b"Content-Description: Notification\n"
        b"Content-Type: text/plain; charset=us-ascii\n"
        b"\n"
        b"This is the mail system at host mx.stad.example.be.\n"
        b"\n"
        b"I'm sorry to have to inform you that your message could not\n"
        b"be delivered to one or more recipients.\n"
        b"\n"
        b"<jan@nergens.example>: host mx.nergens.example said: 550 5.1.1 User unknown\n"
        b"\n"
        b"--ABC12.1773147605/mx.stad.example.be\n"
        b"Content-Description: Delivery report\n"
        b"Content-Type: message/delivery-status\n"
        b"\n"
        b"Reporting-MTA: dns; mx.stad.example.be\n"
        b"Arrival-Date: Tue, 10 Mar 2026 14:00:01 +0100\n"
        b"\n"
        b"Final-Recipient: rfc822; jan@nergens.example\n"
        b"Action: failed\n"
        b"Status: 5.1.1\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 User unknown\n"
        b"\n"
        b"--ABC12.1773147605/mx.stad.example.be\n"
        b"Content-Description: Undelivered Message\n"
        b"Content-Type: message/rfc822\n"
        b"\n"
        b"From: Stad - Klachten <klachten@stad.example.be>\n"
        b"To: jan@nergens.example\n"
        b"Subject: Ontvangstmelding KL-2026-0042\n"
        b"Date: Tue, 10 Mar 2026 14:00:00 +0100\n"
        b"Message-ID: <receipt-KL-2026-0042@stad.example.be>\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"\n"
        b"Beste Jan, wij hebben uw klacht ontvangen.\n"
        b"\n"
        b"--ABC12.1773147605/mx.stad.example.be--\n"
    )


def bounce_headers_only() -> bytes:
    """A DSN that returns only the original headers (text/rfc822-headers, RFC 6522)."""
    return _crlf(
        b"From: postmaster@outlook.example\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Undeliverable: Ontvangstmelding KL-2026-0043\n"
        b"Date: Tue, 10 Mar 2026 15:00:00 +0000\n"
        b"Message-ID: <dsn-2@outlook.example>\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\n'
        b"\n"
        b"--R\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"\n"
        b"Delivery has failed to these recipients: piet@nergens.example\n"
        b"--R\n"
        b"Content-Type: message/delivery-status\n"
        b"\n"
        b"Reporting-MTA: dns;outlook.example\n"
        b"\n"
        b"Final-Recipient: rfc822;piet@nergens.example\n"
        b"Action: failed\n"
        b"Status: 5.1.10\n"
        b"--R\n"
        b"Content-Type: text/rfc822-headers\n"
        b"\n"
        b"From: klachten@stad.example.be\n"
        b"To: piet@nergens.example\n"
        b"Subject: Ontvangstmelding KL-2026-0043\n"
        b"Message-ID: <receipt-KL-2026-0043@stad.example.be>\n"
        b"--R--\n"
    )


def bounce_text_only() -> bytes:
    """An old-style bounce quoting the original in plain text (no DSN parts)."""
    return _crlf(
        b"From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example>\n"
        b"To: klachten@stad.example.be\n"
        b"Subject: Mail delivery failed: returning message to sender\n"
        b"Date: Tue, 10 Mar 2026 16:00:00 +0100\n"
        b"Message-ID: <exim-1@relay.example>\n"
        b"\n"
        b"This message was created automatically by mail delivery software.\n"
        b"\n"
        b"  mia@nergens.example\n"
        b"    mailbox is full\n"
        b"\n"
        b"------ This is a copy of the message, including all the headers. ------\n"
        b"\n"
        b"From: klachten@stad.example.be\n"
        b"Subject: Ontvangstmelding KL-2026-0044\n"
        b"Message-Id: <receipt-KL-2026-0044@stad.example.be>\n"
        b"\n"
        b"Beste Mia,\n"
    )


def auto_reply() -> bytes:
    """An out-of-office reply: the headers intake needs must come through in order."""
    return complaint(
        "Katrien Claes",
        "katrien@example.be",
        "Automatisch antwoord: Ontvangstmelding KL-2026-0045",
        "Ik ben afwezig tot 16 maart.",
        message_id="ooo-1@example.be",
        in_reply_to="receipt-KL-2026-0045@stad.example.be",
        extra_headers={
            "Auto-Submitted": "auto-replied",
            "Precedence": "auto_reply",
            "X-Auto-Response-Suppress": "All",
        },
    )


def broken_from_missing_bracket() -> bytes:
    return _crlf(
        b'From: "Jan" <Jan@Example.be\n'
        b"To: klachten@stad.example.be, Kabinet <kabinet@stad.example.be\n"
        b"Subject: Boom omgevallen\n"
        b"Date: Wed, 11 Mar 2026 07:00:00 +0100\n"
        b"Message-ID: <brokenfrom-1@example.be>\n"
        b"\n"
        b"Er ligt een boom over de weg.\n"
    )


def bare_address_from() -> bytes:
    return _crlf(
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
    return _crlf(
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


def not_a_mail_cases() -> dict[str, bytes]:
    return {
        "empty": b"",
        "whitespace": b" \r\n\r\n\t",
        "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10",
        "zip": b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)),
        "single line": b"just one line without a colon",
        "prose": b"Beste, dit is geen mail\nmaar gewoon tekst.\n",
        "body only": b"\n\nOnly a body after a blank line\n",
    }


def corpus() -> dict[str, bytes]:
    """Every messy mail above, by name (for fuzzing and smoke tests)."""
    return {
        "plain_utf8_dutch": plain_utf8_dutch(),
        "latin1_raw_headers": latin1_raw_headers(),
        "cp1252_smart_quotes_header": cp1252_smart_quotes_header(),
        "utf8_raw_headers": utf8_raw_headers(),
        "rfc2047_q_and_b": rfc2047_q_and_b(),
        "unknown_charset": unknown_charset(),
        "windows1252_body_labelled_latin1": windows1252_body_labelled_latin1(),
        "html_only_outlook": html_only_outlook(),
        "multipart_alternative": multipart_alternative(),
        "attachments_pdf_jpeg": attachments_pdf_jpeg(),
        "text_attachments": text_attachments(),
        "missing_from": missing_from(),
        "missing_date": missing_date(),
        "date_without_zone": date_without_zone(),
        "missing_message_id": missing_message_id(),
        "repeated_headers": repeated_headers(),
        "broken_multipart_no_close": broken_multipart_no_close(),
        "multipart_without_boundary": multipart_without_boundary(),
        "forwarded_rfc822": forwarded_rfc822(),
        "forward_only": forward_only(),
        "base64_encoded_rfc822": base64_encoded_rfc822(),
        "reply_with_references": reply_with_references(),
        "bounce_dsn": bounce_dsn(),
        "bounce_headers_only": bounce_headers_only(),
        "bounce_text_only": bounce_text_only(),
        "auto_reply": auto_reply(),
        "broken_from_missing_bracket": broken_from_missing_bracket(),
        "bare_address_from": bare_address_from(),
        "truncated_encoded_word": truncated_encoded_word(),
        "nul_bytes_lf_only": nul_bytes_lf_only(),
    }
