"""Tickets as JSON. Times in Asia/Shanghai with offsets; masking for confidential tickets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hotline.calendar import to_shanghai
from hotline.domain.lifecycle import ACTION_LABELS
from hotline.domain.phones import mask_phone
from hotline.domain.vocabulary import OPEN_STATUSES, Status
from hotline.services.queries import TicketView


def iso(when: datetime | None) -> str | None:
    return to_shanghai(when).isoformat() if when is not None else None


def _suspension(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """Times in Shanghai, also for rows written before they were stored that way."""
    if stored is None:
        return None
    return {
        **stored,
        **{
            k: iso(datetime.fromisoformat(stored[k]))
            for k in ("expected_by", "since")
            if isinstance(stored.get(k), str)
        },
    }


def ticket_json(view: TicketView, *, now: datetime, staff: bool = True) -> dict[str, Any]:
    """``staff`` (the centre) sees the citizen; a handling unit does not when the ticket is
    confidential (保密), and never sees who made a report (举报) about it."""
    t = view.ticket
    status = Status(t.status)
    citizen: dict[str, Any] | None = None
    if view.citizen is not None:
        c = view.citizen
        hide = not staff and (t.confidential or t.type == "举报")
        phone = c.phone or c.phone_raw
        citizen = {
            "name": None if hide else c.name,
            "phone": mask_phone(phone) if hide else phone,
            "phone_parsed": c.phone is not None,
            "real_name": c.real_name,
            "needs_assistance": c.needs_assistance,
        }
    return {
        "number": t.number,
        "type": t.type,
        "category": t.category_code,
        "title": t.title,
        "content": t.content,
        "address": t.address,
        "division": t.division_code,
        "street": t.street_code,
        "latitude": t.latitude,
        "longitude": t.longitude,
        "urgency": t.urgency,
        "status": status.value,
        "status_label": status.label,
        "channel": t.origin_channel,
        "confidential": t.confidential,
        "citizen": citizen,
        "due_at": iso(t.due_at),
        "overdue": bool(t.due_at and t.due_at < now and status in OPEN_STATUSES),
        "supervision_level": t.supervision_level,
        "repeat_count": t.repeat_count,
        "reopen_count": t.reopen_count,
        "triage_reasons": list(t.triage_reasons or []),
        "suspension": _suspension(t.suspension),
        "merged_into": view.merged_into,
        "received_at": iso(t.received_at),
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
        "closed_at": iso(t.closed_at),
        "version": t.version,
        "assignments": [
            {
                "id": a.id,
                "department": a.department_code,
                "role": a.role,
                "dispatched_at": iso(a.dispatched_at),
                "sign_due_at": iso(a.sign_due_at),
                "return_due_at": iso(a.return_due_at),
                "due_at": iso(a.due_at),
                "signed_at": iso(a.signed_at),
                "replied_at": iso(a.replied_at),
                "status": a.status,
                "extensions_granted": a.extensions_granted,
                "reply": a.reply_content,
                "contacted_citizen": a.contacted_citizen,
            }
            for a in view.assignments
        ],
        "events": [
            {
                "seq": e.seq,
                "at": iso(e.at),
                "actor": {"kind": e.actor_kind, "id": e.actor_id, "department": e.actor_department},
                "action": e.action,
                "action_label": ACTION_LABELS.get(e.action, e.action),
                "status_before": e.status_before,
                "status_after": e.status_after,
                "note": e.note,
                "data": e.data,
            }
            for e in view.events
        ],
    }
