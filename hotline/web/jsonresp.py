"""JSON responses that keep Chinese readable (no \\u escapes)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_response(value: Any, *, status: int = 200) -> web.Response:
    return web.json_response(value, status=status, dumps=dumps)
