"""The ``hotline`` command (CONTRACT.md, "Command line")."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import TypeVar

from hotline.bootstrap import bootstrap, build_calendar
from hotline.calendar import local_day, parse_instant
from hotline.config import ConfigError, Settings, load_settings
from hotline.domain.errors import DomainError
from hotline.logs import configure_logging
from hotline.services.context import Context
from hotline.storage import migrate

T = TypeVar("T")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def _with_context(settings: Settings, work: Callable[[Context], Awaitable[T]]) -> T:
    async def run() -> T:
        ctx = bootstrap(settings)
        try:
            return await work(ctx)
        finally:
            await ctx.db.dispose()

    return asyncio.run(run())


# -- serve -------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web  # noqa: PLC0415 - only the server needs aiohttp loaded

    from hotline.web.app import create_app  # noqa: PLC0415

    settings = _settings(args)
    configure_logging(settings.config.logging)
    host = args.host or settings.config.server.host
    port = args.port or settings.config.server.port
    web.run_app(create_app(settings), host=host, port=port, access_log=None)
    return 0


# -- db ----------------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def work(ctx: Context) -> str | None:
        await migrate.upgrade(ctx.db.engine)
        return await migrate.current_revision(ctx.db.engine)

    revision = _with_context(settings, work)
    print(f"database at revision {revision} ({_safe_url(settings.database_url)})")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    return make_url(url).render_as_string(hide_password=True)


# -- seed --------------------------------------------------------------------------------------


def cmd_seed(args: argparse.Namespace) -> int:
    from hotline.services.seed import DEMO_PASSWORD, seed_demo  # noqa: PLC0415

    if not args.demo:
        print("nothing to do: pass --demo to load the Anyang demo data", file=sys.stderr)
        return 2
    days = None
    if args.history:
        from hotline.services.history_seed import parse_span  # noqa: PLC0415

        try:
            days = parse_span(args.history)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    settings = _settings(args)

    async def work(ctx: Context) -> object:
        await migrate.upgrade(ctx.db.engine)
        return await seed_demo(ctx)

    report = _with_context(settings, work)
    print(f"seeded: {report}")
    print(f"demo users (if created) have the password {DEMO_PASSWORD!r}; change it before real use")
    if days is not None:
        print(_seed_history(settings, days, args.seed))
    return 0


def _seed_history(settings: Settings, days: int, seed: int) -> object:
    """``seed --demo --history 30d``: a month of realistic work (a progress bar on stderr)."""
    from tqdm import tqdm  # noqa: PLC0415

    from hotline.services.history_seed import seed_history  # noqa: PLC0415

    quiet = settings.config.logging.model_copy(update={"level": "WARNING", "format": "console"})
    configure_logging(quiet)  # the simulated scheduler's notices would drown the bar

    async def work(ctx: Context) -> object:
        with tqdm(total=days, desc="history", unit="天", file=sys.stderr) as bar:

            def advance(_: object) -> None:
                bar.update()

            return await seed_history(ctx, days, seed=seed, progress=advance)

    return _with_context(settings, work)


# -- report ------------------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    """``hotline report --period 2026-11|2026-W48|2026-11-26 --out DIR`` (社情民意)."""
    from pathlib import Path  # noqa: PLC0415

    from hotline.reports.build import Written, write_report  # noqa: PLC0415
    from hotline.reports.periods import PeriodError, parse_period  # noqa: PLC0415

    try:
        period = parse_period(args.period)
    except PeriodError as exc:
        print(f"error: --period: {exc}", file=sys.stderr)
        return 2
    settings = _settings(args)
    configure_logging(
        settings.config.logging.model_copy(update={"level": "WARNING", "format": "console"})
    )

    async def work(ctx: Context) -> Written:
        await migrate.upgrade(ctx.db.engine)
        return await write_report(ctx, period, Path(args.out), progress=True)

    written = _with_context(settings, work)
    print(f"report {period.label} ({period.title}) written to {written.directory}:")
    for path in written.files:
        print(f"  {path}")
    return 0


# -- calendar ----------------------------------------------------------------------------------


def cmd_calendar_deadline(args: argparse.Namespace) -> int:
    settings = _settings(args)

    def on_fallback(year: int) -> None:
        print(
            f"warning: no official holiday schedule for {year}; counted Monday-Friday as "
            f"working days (add calendar.holidays/workdays for {year} to the config)",
            file=sys.stderr,
        )

    # the warning is printed just above; the calendar's own log line would repeat it
    logging.getLogger("hotline.calendar").addHandler(logging.NullHandler())
    calendar = build_calendar(settings.config, on_fallback=on_fallback)
    try:
        start = parse_instant(args.start)
    except ValueError:
        print(f"error: START must be an ISO date or datetime, not {args.start!r}", file=sys.stderr)
        return 2
    if args.working_days < 0:
        print("error: --working-days must not be negative", file=sys.stderr)
        return 2
    deadline = calendar.deadline(start, args.working_days)
    print(deadline.isoformat())
    if args.verbose:
        print(f"start day {local_day(start).isoformat()} (not counted)", file=sys.stderr)
    return 0


# -- users -------------------------------------------------------------------------------------


def cmd_users_add(args: argparse.Namespace) -> int:
    from hotline.services.users import add_user  # noqa: PLC0415

    settings = _settings(args)
    password = sys.stdin.readline().rstrip("\n")

    async def work(ctx: Context) -> object:
        await migrate.upgrade(ctx.db.engine)
        return await add_user(ctx, args.name, args.role, password, department=args.department)

    _with_context(settings, work)
    print(f"user {args.name} ({args.role}) created")
    return 0


# -- keys --------------------------------------------------------------------------------------


def cmd_keys_add(args: argparse.Namespace) -> int:
    from hotline.services.keys import create_key  # noqa: PLC0415

    settings = _settings(args)

    async def work(ctx: Context) -> str:
        await migrate.upgrade(ctx.db.engine)
        return await create_key(
            ctx, department=args.department, platform=args.platform, label=args.label
        )

    key = _with_context(settings, work)
    owner = f"department {args.department}" if args.department else f"platform {args.platform}"
    print(f"API key for {owner} (shown once; store it now):")
    print(key)
    return 0


# -- audit -------------------------------------------------------------------------------------


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from hotline.services.audit import Verification, verify  # noqa: PLC0415

    settings = _settings(args)
    since = None
    if args.since:
        try:
            since = date.fromisoformat(args.since)
        except ValueError:
            print(f"error: --since must be an ISO date, not {args.since!r}", file=sys.stderr)
            return 2

    async def work(ctx: Context) -> Verification:
        await migrate.upgrade(ctx.db.engine)
        return await verify(ctx, since)

    result = _with_context(settings, work)
    broken = result.broken
    checked = f"{result.tickets} tickets, {result.events} events"
    if broken is None:
        print(f"history intact: {checked} checked")
        return 0
    print(
        f"history BROKEN at ticket {broken.number}, event {broken.seq}: {broken.reason} "
        f"({checked} checked)"
    )
    return 1


# -- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description="12345 hotline backend")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="config file (default: $HOTLINE_CONFIG, ./config.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[common], help="upgrade the schema and serve HTTP")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", parents=[common], help="Alembic upgrade to head")
    up.set_defaults(func=cmd_db_upgrade)

    seed = sub.add_parser("seed", parents=[common], help="load reference and demo data")
    seed.add_argument("--demo", action="store_true", help="Anyang demo data")
    seed.add_argument(
        "--history", metavar="DAYS", help="also seed this many past days of work, e.g. 30d"
    )
    seed.add_argument("--seed", type=int, default=12345, help="random seed of the history")
    seed.set_defaults(func=cmd_seed)

    report = sub.add_parser("report", parents=[common], help="the 社情民意 report of a period")
    report.add_argument(
        "--period", required=True, help="2026-11 (month), 2026-W48 (ISO week), 2026-11-26 (day)"
    )
    report.add_argument("--out", required=True, help="folder for report.html, .pdf and .csv")
    report.set_defaults(func=cmd_report)

    cal = sub.add_parser("calendar", help="working-day calendar")
    cal_sub = cal.add_subparsers(dest="calendar_command", required=True)
    deadline = cal_sub.add_parser(
        "deadline", parents=[common], help="deadline of N working days from START"
    )
    deadline.add_argument("start", help="ISO date or datetime (Asia/Shanghai when naive)")
    deadline.add_argument("--working-days", type=int, required=True)
    deadline.add_argument("--verbose", action="store_true")
    deadline.set_defaults(func=cmd_calendar_deadline)

    users = sub.add_parser("users", help="console users")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", parents=[common], help="create a user; password on stdin")
    add.add_argument("name")
    add.add_argument(
        "--role", required=True, choices=["agent", "supervisor", "department", "admin"]
    )
    add.add_argument("--department")
    add.set_defaults(func=cmd_users_add)

    keys = sub.add_parser("keys", help="API keys for departments and platforms")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    kadd = keys_sub.add_parser("add", parents=[common], help="create a key; printed once")
    owner = kadd.add_mutually_exclusive_group(required=True)
    owner.add_argument("--department", help="a department code, e.g. GSGS")
    owner.add_argument("--platform", help="a partner platform's name")
    kadd.add_argument("--label")
    kadd.set_defaults(func=cmd_keys_add)

    audit = sub.add_parser("audit", help="the tamper-evident ticket history")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    check = audit_sub.add_parser("verify", parents=[common], help="check the hash chains")
    check.add_argument("--since", help="only tickets with events since this date (YYYY-MM-DD)")
    check.set_defaults(func=cmd_audit_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"config error:\n{exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
