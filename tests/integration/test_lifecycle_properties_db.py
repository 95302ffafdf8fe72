"""Random action sequences through the service and the real database: the stored projections
always equal the domain's state, and the stored history replays to them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from hotline.bootstrap import bootstrap
from hotline.clock import FixedClock
from hotline.config import Settings
from hotline.domain.errors import DomainError
from hotline.domain.intake import IntakeValue
from hotline.domain.lifecycle import TicketState, check_invariants, decide, evolve, replay
from hotline.domain.vocabulary import Channel, TicketType
from hotline.services.context import Context
from hotline.services.history import event_from_row
from hotline.services.intake import take_in
from hotline.services.queries import get_ticket
from hotline.services.tickets import perform, read_state
from tests.conftest import DEFAULT_NOW
from tests.factories import AGENT, SUPERVISOR, Story, dept
from tests.unit.domain.test_lifecycle_properties import build_action, draw_kind


def test_random_histories_through_the_database(settings: Settings) -> None:
    runner = asyncio.Runner()
    clock = FixedClock(DEFAULT_NOW)
    ctx: Context = bootstrap(settings, clock=clock)
    serial = iter(range(1_000_000))

    class ThroughTheDatabase(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            clock.set(DEFAULT_NOW)
            result = runner.run(
                take_in(
                    ctx,
                    IntakeValue(
                        channel=Channel.API,
                        channel_ref=f"prop-{next(serial)}",
                        received_at=clock.now(),
                        content="随机测试工单",
                        type=TicketType.HELP,
                        category="municipal",
                    ),
                )
            )
            self.number = result.number
            target = runner.run(
                take_in(
                    ctx,
                    IntakeValue(
                        channel=Channel.API,
                        channel_ref=f"prop-{next(serial)}",
                        received_at=clock.now(),
                        content="另一张工单，供并单",
                        type=TicketType.HELP,
                    ),
                )
            )
            self.merge_target = target.number
            self.model: TicketState = runner.run(read_state(ctx, self.number))
            self.story = Story(self.number)  # used for its clock only
            self.story.state = self.model

        @rule(data=st.data())
        def act(self, data: st.DataObject) -> None:
            minutes = data.draw(st.integers(1, 60 * 30), label="minutes")
            clock.advance(timedelta(minutes=minutes))
            self.story.now = clock.now()
            kind = draw_kind(data, self.model)
            action: Any = build_action(kind, data, self.model, self.story, self.merge_target)
            actor = (
                dept(action.department)
                if hasattr(action, "department")
                else (SUPERVISOR if kind.startswith("decide") else AGENT)
            )
            try:
                expected = evolve(self.model, decide(self.model, action, actor, clock.now()))
            except DomainError:
                expected = None
            try:
                outcome = runner.run(perform(ctx, self.number, action, actor))
            except DomainError:
                assert expected is None, f"{kind} refused by the service, allowed by the domain"
                return
            assert expected is not None, f"{kind} allowed by the service, refused by the domain"
            assert outcome.state == expected
            self.model = expected

        @invariant()
        def stored_state_is_the_model(self) -> None:
            stored = runner.run(read_state(ctx, self.number))
            check_invariants(stored)
            assert stored == self.model

        @invariant()
        def stored_history_replays(self) -> None:
            view = runner.run(get_ticket(ctx, self.number))
            events = [event_from_row(e) for e in view.events]
            assert replay(events) == self.model
            assert view.ticket.version == len(events)

    try:
        run_state_machine_as_test(
            ThroughTheDatabase,
            settings=hyp_settings(max_examples=25, stateful_step_count=15, deadline=None),
        )
    finally:
        runner.run(ctx.db.dispose())
        runner.close()
