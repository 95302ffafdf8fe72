"""The access log line of every request: written at INFO, not even built at WARNING."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from hotline.config import LoggingConfig
from hotline.logs import configure_logging
from hotline.metrics import Metrics
from hotline.web.app import observe_middleware
from hotline.web.keys import METRICS

ClientFactory = Callable[..., Awaitable[TestClient[Any, web.Application]]]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def _get(aiohttp_client: ClientFactory) -> None:
    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(middlewares=[observe_middleware])
    app[METRICS] = Metrics()
    app.router.add_get("/hello/{name}", hello)
    client = await aiohttp_client(app)
    response = await client.get("/hello/world")
    assert response.status == 200
    assert app[METRICS].http_requests.labels("GET", "/hello/{name}", "200")._value.get() == 1


async def test_a_request_is_logged_at_info(
    aiohttp_client: ClientFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(LoggingConfig(level="INFO", format="json"))
    await _get(aiohttp_client)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "{" in line]
    access = [line for line in lines if line.get("event") == "request"]
    assert len(access) == 1
    assert access[0]["method"] == "GET"
    assert access[0]["path"] == "/hello/world"
    assert access[0]["status"] == 200
    assert access[0]["logger"] == "hotline.http"


async def test_at_warning_no_request_line(
    aiohttp_client: ClientFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(LoggingConfig(level="WARNING", format="json"))
    await _get(aiohttp_client)
    assert '"request"' not in capsys.readouterr().err
