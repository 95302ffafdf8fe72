"""Request bodies, validated at the edge with pydantic; a bad field becomes a 422 naming it."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hotline.domain.errors import InvalidField, NotFound

Model = TypeVar("Model", bound=BaseModel)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


def parse_body(model: type[Model], data: dict[str, Any]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        if first["type"] == "extra_forbidden":
            raise InvalidField(field, "未知字段") from exc
        if first["type"] == "missing":
            raise InvalidField(field, "必填") from exc
        raise InvalidField(field, first["msg"]) from exc


class TicketCreate(Body):
    type: str
    content: str = Field(min_length=1, max_length=20_000)
    title: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=500)
    division: str | None = Field(default=None, max_length=40)
    street: str | None = Field(default=None, max_length=40)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    phone: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=100)
    real_name: bool = False
    channel: str | None = None
    confidential: bool = False
    needs_assistance: bool = False
    urgency: Literal["normal", "urgent"] = "normal"
    #: the live call this ticket is about (an agent's ticket): the call is linked to it
    call_sid: str | None = Field(default=None, max_length=64)


def path_id(text: str, what: str) -> int:
    """A row id from a URL path. Anything a database integer cannot hold names no row: 404,
    with ``what`` (in Chinese) saying what was looked for."""
    try:
        value = int(text)
    except ValueError as exc:
        raise NotFound(f"{what}不存在") from exc
    if not 0 < value < 2**63:
        raise NotFound(f"{what}不存在")
    return value
