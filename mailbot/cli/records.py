"""Command line for the complaints register, the yearly report and the citizen's rights:
`register export`, `report`, `privacy export`, `privacy erase`. Each subcommand sets
`handler(args, ctx) -> exit code` (the app is opened then); the heavy libraries load only
when it runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from mailbot.cli.wiring import App, Context

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
Handler = Callable[["App", argparse.Namespace], int]


def add_parsers(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser] = (),
) -> None:
    parents = list(parents)
    _add_register(subparsers, parents)
    _add_report(subparsers, parents)
    _add_privacy(subparsers, parents)


SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _add_register(subparsers: SubParsers, parents: list[argparse.ArgumentParser]) -> None:
    register = subparsers.add_parser(
        "register", parents=parents, help="the complaints register (klachtenregister)"
    )
    register_sub = register.add_subparsers(
        dest="register_command", metavar="REGISTER_COMMAND", required=True
    )
    export = register_sub.add_parser(
        "export",
        parents=parents,
        help="one row per case received in a year, as CSV or Excel",
        description="Write the complaints register of one year: reference, channel, "
        "received, deadline, state, admissibility and reason, service, outcome, answered on, "
        "working and calendar days taken, answered in time. Example: mailbot register "
        "export --year 2026 --format xlsx --out klachtenregister-2026.xlsx",
    )
    export.add_argument("--year", type=int, required=True, help="year the cases were received")
    export.add_argument("--format", choices=["csv", "xlsx"], default="csv", help="default: csv")
    export.add_argument(
        "--out",
        metavar="FILE",
        help="output file ('-' for CSV on standard output); default: "
        "klachtenregister-YEAR.FORMAT in the current folder",
    )
    export.set_defaults(handler=_with_app(_needs_extra(register_export)), mail_secrets=False)


def _add_report(subparsers: SubParsers, parents: list[argparse.ArgumentParser]) -> None:
    report = subparsers.add_parser(
        "report",
        parents=parents,
        help="the yearly report to the council, as one HTML file",
        description="Write the yearly report on the complaints of one year (Dutch, one "
        "self-contained HTML file with charts, printable to PDF from a browser, no personal "
        "data). Example: mailbot report --year 2026 --out klachtenrapport-2026.html",
    )
    report.add_argument("--year", type=int, required=True, help="year the cases were received")
    report.add_argument(
        "--out", metavar="FILE", help="default: klachtenrapport-YEAR.html in the current folder"
    )
    report.set_defaults(handler=_with_app(_needs_extra(yearly_report)), mail_secrets=False)


def _add_privacy(subparsers: SubParsers, parents: list[argparse.ArgumentParser]) -> None:
    privacy = subparsers.add_parser(
        "privacy", parents=parents, help="a citizen's rights: access (art. 15), erasure (art. 17)"
    )
    privacy_sub = privacy.add_subparsers(
        dest="privacy_command", metavar="PRIVACY_COMMAND", required=True
    )
    access = privacy_sub.add_parser(
        "export",
        parents=parents,
        help="everything stored about an e-mail address, as one zip file",
        description="Write everything mailbot stores about one e-mail address into a zip: "
        "the cases, the mails as .eml, the attachments and a JSON summary (GDPR art. 15). "
        "Example: mailbot privacy export --email an@example.org --out inzage.zip",
    )
    access.add_argument("--email", required=True, metavar="ADDRESS")
    access.add_argument("--out", required=True, metavar="FILE", help="the zip file to write")
    access.set_defaults(handler=_with_app(privacy_export))
    erase = privacy_sub.add_parser(
        "erase",
        parents=parents,
        help="remove an e-mail address's personal data from the database and the mailbox",
        description="Remove everything about one e-mail address from the database and from "
        "the processed and quarantine folders (GDPR art. 17); the anonymous numbers of the "
        "yearly report stay. Asks for confirmation unless --yes. Example: mailbot privacy "
        "erase --email an@example.org",
    )
    erase.add_argument("--email", required=True, metavar="ADDRESS")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.set_defaults(handler=_with_app(privacy_erase))


def _with_app(handler: Handler) -> Callable[[argparse.Namespace, Context], int]:
    def run(args: argparse.Namespace, ctx: Context) -> int:
        from mailbot.cli.wiring import open_app

        return handler(open_app(ctx), args)

    return run


def _needs_extra(handler: Callable[[App, argparse.Namespace], int]) -> Handler:
    """openpyxl and matplotlib are the optional [records] extra: say so instead of a trace."""

    def run(app: App, args: argparse.Namespace) -> int:
        try:
            return handler(app, args)
        except ModuleNotFoundError as exc:
            if exc.name not in ("openpyxl", "matplotlib"):
                raise
            print(
                f"mailbot: {exc.name} is missing: pip install 'mailbot[records]'", file=sys.stderr
            )
            return EXIT_FAILURE

    return run


def _out_path(value: str | None, default: str) -> Path:
    return Path(value) if value else Path.cwd() / default


def register_export(app: App, args: argparse.Namespace) -> int:
    from mailbot.persistence.db import require_current_schema
    from mailbot.records.register import load_rows, write_csv, write_xlsx

    require_current_schema(app.engine)
    rows = load_rows(app.sessions, app.config, args.year)
    if args.out == "-":
        if args.format != "csv":
            print("mailbot: --out - works for --format csv only", file=sys.stderr)
            return EXIT_USAGE
        write_csv(rows, sys.stdout)
        return EXIT_OK
    path = _out_path(args.out, f"klachtenregister-{args.year}.{args.format}")
    if args.format == "csv":
        with path.open("w", encoding="utf-8-sig", newline="") as stream:
            write_csv(rows, stream)
    else:
        with path.open("wb") as binary:
            write_xlsx(rows, binary, args.year)
    print(f"register {args.year}: {len(rows)} case(s) written to {path}")
    return EXIT_OK


def yearly_report(app: App, args: argparse.Namespace) -> int:
    from mailbot.persistence.db import require_current_schema
    from mailbot.records.report import write_report

    require_current_schema(app.engine)
    path = _out_path(args.out, f"klachtenrapport-{args.year}.html")
    figures = write_report(app.sessions, app.config, args.year, path, app.clock())
    print(f"report {args.year}: {figures.total} case(s), written to {path}")
    return EXIT_OK


def privacy_export(app: App, args: argparse.Namespace) -> int:
    from mailbot.persistence.db import require_current_schema
    from mailbot.records.privacy import export

    require_current_schema(app.engine)
    found = export(app.sessions, app.config, args.email, Path(args.out), app.clock())
    print(
        f"privacy export: {len(found.cases)} case(s) and {found.mails} mail(s) written to "
        f"{args.out}"
    )
    return EXIT_OK


def privacy_erase(app: App, args: argparse.Namespace) -> int:
    from mailbot.persistence.db import require_current_schema
    from mailbot.records.privacy import erase, preview

    require_current_schema(app.engine)
    planned = preview(app.sessions, args.email)
    print(
        f"{len(planned.cases)} case(s) ({', '.join(planned.cases) or '-'}) and "
        f"{planned.mails} stored mail(s) hold this address."
    )
    if not args.yes:
        if not sys.stdin.isatty():
            print("mailbot: not a terminal: add --yes to erase without asking", file=sys.stderr)
            return EXIT_USAGE
        answer = input("Erase them for good? Type 'yes': ").strip().lower()
        if answer != "yes":
            print("nothing erased")
            return EXIT_FAILURE
    done = erase(app.sessions, app.engine, app.mailbox, app.config, args.email, app.clock)
    print(
        f"erased: {len(done.cases)} case(s), {done.items} stored mail(s), "
        f"{done.removed_from_mailbox} original(s) in the mailbox; the yearly figures stay"
    )
    return EXIT_OK
