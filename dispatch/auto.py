"""The routing engine at work: suggestions for agents, and automatic routing of text contacts.

The engine is built from the database's reference data (divisions, categories), the config's
extra catalogue rules and the lexicon, and rebuilt when the reference data changes. Tickets
from text channels (SMS, WeChat, mailbox, platforms) are routed as they arrive:

* an emergency is never dispatched: it is marked urgent and put at the head of the agents'
  triage queue at once (the channel has already told the citizen to call 110/119/120);
* an out-of-scope matter waits for an agent, who declines it with guidance (不予受理);
* a ticket the engine is sure of (``routing.min_confidence``) is classified and dispatched;
* anything else waits in the triage queue with the engine's suggestion and its reasons.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass
from pathlib import Path

import structlog
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.gazetteer import Gazetteer
from dispatch.routing import Catalogue, Decision, Suggestion, route, suggest
from dispatch.service import new_assignments, rule_label
from dispatch.understanding import Kind, Lexicon
from hotline.domain.errors import DomainError, InvalidField
from hotline.domain.lifecycle import SYSTEM, Actor, Amend, Annotate, Dispatch, Triage
from hotline.domain.vocabulary import ActorKind, Status, Urgency
from hotline.services.context import Context
from hotline.services.reference import ReferenceData
from hotline.services.tickets import load_for_update, perform_in, read_state
from hotline.storage.routing import RoutingCatalogue
from hotline.storage.tickets import Ticket
from hotline.storage.upsert import dialect_insert, dialect_of

log = structlog.get_logger(__name__)

ENGINE = Actor(ActorKind.SYSTEM, "routing-engine")


@dataclass(frozen=True)
class Engine:
    gazetteer: Gazetteer
    catalogue: Catalogue
    lexicon: Lexicon
    reference: ReferenceData


_engines: weakref.WeakKeyDictionary[Context, Engine] = weakref.WeakKeyDictionary()


async def engine(ctx: Context) -> Engine:
    """The engine for the reference data in force (rebuilt when it changes)."""
    ref = await ctx.reference.get()
    built = _engines.get(ctx)
    if built is not None and built.reference is ref:
        return built
    rows = [
        {
            "code": d.code,
            "name": d.name,
            "level": d.level,
            "parent_code": d.parent_code,
            "urban": d.urban,
            "aliases": list(d.aliases),
        }
        for d in ref.divisions.values()
    ]
    counties = [d for d in ref.divisions.values() if d.level == "county"]
    catalogue = Catalogue.from_categories(
        [
            {
                "code": c.code,
                "mode": c.mode,
                "department": c.department_code,
                "push_down": c.push_down,
            }
            for c in ref.categories.values()
        ],
        urban_divisions=[d.code for d in counties if d.urban],
        counties=[d.code for d in counties],
    )
    rules = ctx.config.routing.rules
    if rules:
        catalogue = catalogue.with_rules(rules)
    await _keep_version(ctx, catalogue)
    built = Engine(
        gazetteer=Gazetteer.from_rows(rows) if rows else Gazetteer.packaged(),
        catalogue=catalogue,
        lexicon=_lexicon(ctx),
        reference=ref,
    )
    _engines[ctx] = built
    return built


async def _keep_version(ctx: Context, catalogue: Catalogue) -> None:
    """Store the catalogue under its version, once, so every recorded decision can be traced
    to the exact rules that made it."""
    async with ctx.db.sessions() as session, session.begin():
        stmt = (
            dialect_insert(dialect_of(session), RoutingCatalogue)
            .values(
                version=str(catalogue.version),
                rules=[rule.as_dict() for rule in catalogue.rules],
                urban_divisions=sorted(catalogue.urban_divisions),
                counties=sorted(catalogue.counties),
                created_at=ctx.clock.now(),
            )
            .on_conflict_do_nothing(index_elements=[RoutingCatalogue.version])
        )
        await session.execute(stmt)


def _lexicon(ctx: Context) -> Lexicon:
    path = ctx.config.routing.lexicon
    if path is None:
        return Lexicon.packaged()
    where = Path(path)
    if not where.is_absolute() and ctx.settings.config_path is not None:
        where = Path(ctx.settings.config_path).parent / where
    return Lexicon(yaml.safe_load(where.read_text(encoding="utf-8")))


async def suggest_for(ctx: Context, text: str, address: str | None = None) -> Suggestion:
    built = await engine(ctx)
    return suggest(
        text, address, gazetteer=built.gazetteer, catalogue=built.catalogue, lexicon=built.lexicon
    )


async def route_ticket(ctx: Context, number: str) -> Decision:
    """Where the catalogue in force sends this ticket, from its category and place."""
    state = await read_state(ctx, number)
    c = state.classification
    if c.category is None:
        return Decision(None, (), None, "-", 0.0, ("工单没有诉求分类，需人工派单",))
    async with ctx.db.reads() as session:
        content = await session.scalar(select(Ticket.content).where(Ticket.number == number))
    built = await engine(ctx)
    return route(
        built.catalogue, c.category, c.division, c.street, text=content or "", type_=c.type
    )


@dataclass(frozen=True)
class Routed:
    number: str
    outcome: str  # dispatched | emergency | out_of_scope | triage | skipped
    suggestion: Suggestion | None = None


async def auto_route(ctx: Context, number: str) -> Routed:
    """Route one newly received ticket (see the module's docstring)."""
    async with ctx.db.reads() as session:
        row = (
            await session.execute(
                select(Ticket.status, Ticket.content, Ticket.address, Ticket.title).where(
                    Ticket.number == number
                )
            )
        ).one_or_none()
    if row is None or row.status != Status.RECEIVED.value:
        return Routed(number, "skipped")
    text = "。".join(part for part in (row.title, row.content) if part)
    found = await suggest_for(ctx, text, row.address)
    # Every step of the decision in one transaction: routed as a whole or not at all (a failed
    # step leaves the ticket received for the next sweep), and one turn at SQLite's writer.
    async with ctx.db.sessions() as session, session.begin():
        return await _route_in(ctx, session, number, found)


async def _route_in(ctx: Context, session: AsyncSession, number: str, found: Suggestion) -> Routed:
    loaded = await load_for_update(session, number)
    if loaded is None or loaded.state.status is not Status.RECEIVED:  # taken meanwhile
        return Routed(number, "skipped")
    why = "；".join(found.explanation[:6])
    state = loaded.state
    c = state.classification
    amend = Amend(
        type=None if c.type else found.type,
        category=None if c.category else found.category,
        division=None if c.division else found.division,
        street=None if (c.street or c.division) else found.street,
        urgency=Urgency.URGENT if found.kind is Kind.EMERGENCY else None,
    )
    with contextlib.suppress(InvalidField):  # the ticket already says all the engine knows
        state = (await perform_in(ctx, session, number, amend, ENGINE)).state
    if found.kind is Kind.EMERGENCY:
        service = found.emergency.value if found.emergency else "110/119/120"
        note = Annotate(f"疑似紧急情况({service})：{why}", kind="routing")
        await perform_in(ctx, session, number, note, ENGINE)
        triage = Triage(f"疑似紧急情况，请立即处理并告知拨打{service}")
        await perform_in(ctx, session, number, triage, ENGINE)
        return Routed(number, "emergency", found)
    if found.kind is Kind.OUT_OF_SCOPE:
        reason = found.reject_reason.value if found.reject_reason else "out_of_scope"
        triage = Triage(f"疑似不属于受理范围({reason})：{why}")
        await perform_in(ctx, session, number, triage, ENGINE)
        return Routed(number, "out_of_scope", found)
    threshold = ctx.config.routing.min_confidence
    if (
        found.department is not None
        and found.decision is not None
        and (found.confidence >= threshold)
    ):
        try:
            assignments = await new_assignments(
                ctx, state, found.department, list(found.co_handlers)
            )
            dispatch = Dispatch(assignments, rule=rule_label(found.decision))
            await perform_in(ctx, session, number, dispatch, SYSTEM)
        except DomainError as exc:  # refused before anything was written
            log.warning("auto dispatch refused", number=number, error=exc.message)
        else:
            return Routed(number, "dispatched", found)
    triage = Triage(f"待人工派单(置信度 {found.confidence:.2f} < {threshold:.2f})：{why}")
    await perform_in(ctx, session, number, triage, ENGINE)
    return Routed(number, "triage", found)


async def route_received(ctx: Context, *, limit: int = 100) -> list[Routed]:
    """Route the text-channel tickets still waiting as received (a periodic sweep)."""
    channels = [c.value for c in ctx.config.routing.channels]
    if not ctx.config.routing.auto_dispatch or not channels:
        return []
    async with ctx.db.reads() as session:
        numbers = list(
            await session.scalars(
                select(Ticket.number)
                .where(Ticket.status == Status.RECEIVED.value, Ticket.origin_channel.in_(channels))
                .order_by(Ticket.id)
                .limit(limit)
            )
        )
    routed = []
    for number in numbers:
        try:
            routed.append(await auto_route(ctx, number))
        except DomainError as exc:  # another instance got there first, or it changed
            log.info("auto route skipped", number=number, error=exc.message)
    return routed
