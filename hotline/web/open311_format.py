"""Open311 documents as ``.json`` or ``.xml``, and Open311's own error list.

GeoReport v2 names each document's shape once; this module writes it in both formats so the
handlers never think about either. XML is built with ElementTree (never from strings), and
characters XML 1.0 cannot carry (control characters a citizen's text may hold) are dropped
from XML only: JSON escapes them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from aiohttp import web


class Format(StrEnum):
    JSON = "json"
    XML = "xml"

    @classmethod
    def of(cls, extension: str) -> Format | None:
        try:
            return cls(extension.lower())
        except ValueError:
            return None

    @property
    def media_type(self) -> str:
        return "application/json" if self is Format.JSON else "text/xml"


class Open311Error(Exception):
    """An answer in GeoReport's error format: ``[{code, description}]`` with this HTTP status."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


#: the element each list holds, in XML (GeoReport names them; JSON just has arrays)
ITEM_TAGS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}

_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Document = Mapping[str, Any] | Sequence[Mapping[str, Any]]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(parent: Element, fields: Mapping[str, Any]) -> None:
    for name, value in fields.items():
        child = SubElement(parent, name)
        if isinstance(value, Sequence) and not isinstance(value, str):
            _items(child, ITEM_TAGS[name], value)
        elif isinstance(value, Mapping):
            _fill(child, value)
        else:
            child.text = _text(value)


def _items(parent: Element, tag: str, items: Sequence[Any]) -> None:
    for item in items:
        child = SubElement(parent, tag)
        if isinstance(item, Mapping):
            _fill(child, item)
        else:
            child.text = _text(item)


def to_xml(root: str, document: Document) -> bytes:
    element = Element(root)
    if isinstance(document, Mapping):
        _fill(element, document)
    else:
        _items(element, ITEM_TAGS[root], document)
    body: bytes = tostring(element, encoding="UTF-8", xml_declaration=True)
    return body


def render(fmt: Format, root: str, document: Document, *, status: int = 200) -> web.Response:
    """``root`` is the XML root element (``services``, ``service_requests``, ``discovery``...)."""
    if fmt is Format.JSON:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    else:
        body = to_xml(root, document)
    return web.Response(body=body, status=status, content_type=fmt.media_type, charset="utf-8")


def render_error(fmt: Format, status: int, description: str) -> web.Response:
    return render(fmt, "errors", [{"code": status, "description": description}], status=status)
