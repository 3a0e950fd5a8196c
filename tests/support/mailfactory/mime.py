"""Messy MIME trees: HTML only, attachments, broken multiparts, forwards, bounces."""

from __future__ import annotations

import quopri

from support.mailfactory.build import JPEG_BYTES, PDF_BYTES, b64, complaint, crlf

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
    return crlf(
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
    return crlf(
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
    return crlf(
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
        b"\n" + b64(b"\x89PNG\r\n\x1a\nlogo") + b"--REL--\n"
        b"--MIX\n"
        b'Content-Type: application/pdf; name="klacht.pdf"\n'
        b'Content-Disposition: attachment; filename="klacht.pdf"\n'
        b"Content-Transfer-Encoding: base64\n"
        b"\n" + b64(PDF_BYTES) + b"--MIX\n"
        b"Content-Type: image/jpeg\n"
        b"Content-Disposition: attachment;\n"
        b" filename*=UTF-8''foto%20stra%C3%9Fe.jpg\n"
        b"Content-Transfer-Encoding: base64\n"
        b"\n" + b64(JPEG_BYTES) + b"--MIX\n"
        b"Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document;\n"
        b' name="=?utf-8?B?YnJpZWYgYWFuIGRlIHNjaGVwZW4uZG9jeA==?="\n'
        b"Content-Disposition: attachment;\n"
        b' filename="=?utf-8?B?YnJpZWYgYWFuIGRlIHNjaGVwZW4uZG9jeA==?="\n'
        b"Content-Transfer-Encoding: base64\n"
        b"\n" + b64(b"PK\x03\x04docx") + b"--MIX--\n"
    )


def text_attachments() -> bytes:
    """A CSV with a filename and Outlook's trailing ATT00001.txt are attachments, not body."""
    return crlf(
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


def broken_multipart_no_close() -> bytes:
    """The closing boundary never comes (a truncated upload from a webmail)."""
    return crlf(
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
        b"\n" + b64(JPEG_BYTES)
    )


def multipart_without_boundary() -> bytes:
    """Content-Type multipart/mixed but no boundary parameter at all."""
    return crlf(
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
        b"\n" + b64(PDF_BYTES) + b"--=_Part_0_1--\n"
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
    return crlf(
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
    return crlf(
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
    return crlf(
        b"From: Hilde Vermeulen <hilde@example.be>\n"
        b"Subject: Fwd: Lawaai werf\n"
        b"Date: Mon, 9 Mar 2026 08:06:00 +0100\n"
        b"Message-ID: <fwd-3@example.be>\n"
        b'Content-Type: multipart/mixed; boundary="F"\n'
        b"\n"
        b"--F\n"
        b"Content-Type: message/rfc822\n"
        b"Content-Transfer-Encoding: base64\n"
        b"\n" + b64(crlf(_FORWARDED)) + b"--F--\n"
    )


def reply_with_references() -> bytes:
    return crlf(
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
    return crlf(
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
    return crlf(
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
    return crlf(
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
