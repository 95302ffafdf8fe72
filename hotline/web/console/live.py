"""``/console/ws``: the one WebSocket of every console page.

Each app has one :class:`hotline.services.live.Hub` (fed by PostgreSQL LISTEN, or by this
process's commits on SQLite) and every open page one subscription to it. Pages get small
events (``ticket``, ``call``, ``agent``, ``resync``) and fetch what they show through ordinary
requests, so the access checks stay in one place; a department user's socket carries only the
events of tickets assigned to their unit. The socket re-checks its session every minute (and so
keeps it alive while the page is open); the sockets are closed when the app shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import structlog
from aiohttp import WSCloseCode, WSMsgType, web

from hotline.services import console, live
from hotline.services.console import SessionUser
from hotline.web.console import session
from hotline.web.keys import CONTEXT

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()

LIVE = web.AppKey("console_live_hub", live.Hub)
SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("console_sockets")
#: seconds between checks that the socket's session is still valid
CHECK_SECONDS = 60.0
#: close code for "signed out or expired" (4000-4999 are the application's)
CLOSE_SIGNED_OUT = 4401


def visible(user: SessionUser, event: live.LiveEvent) -> bool:
    """Staff see everything; a unit sees its own tickets only (and resync requests)."""
    kind = event.get("kind")
    if kind == "resync" or user.role != "department":
        return True
    departments = event.get("departments") or []
    return kind == "ticket" and user.department in departments


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser; the cookie is still required
    return urlsplit(origin).netloc == request.host


async def _read(ws: web.WebSocketResponse) -> None:
    """Drain what the page sends (nothing is expected) until it closes."""
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            break


@routes.get("/console/ws")
async def websocket(request: web.Request) -> web.StreamResponse:
    user = await session.current(request)
    token = session.token(request)
    if user is None or token is None:
        return web.Response(status=401, text="请重新登录", content_type="text/plain")
    if not _same_origin(request):
        return web.Response(status=403, text="来源不允许", content_type="text/plain")
    ctx = request.app[CONTEXT]
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=4096)
    await ws.prepare(request)
    sockets = request.app[SOCKETS]
    sockets.add(ws)
    reader = asyncio.create_task(_read(ws))
    try:
        with request.app[LIVE].subscribe() as sub:
            await ws.send_str(live.message([{"kind": "hello", "user": user.user_id}]))
            while not ws.closed and not reader.done():
                getter = asyncio.ensure_future(sub.get())
                done, _ = await asyncio.wait(
                    {getter, reader}, timeout=CHECK_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                if getter not in done:
                    getter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await getter
                    if not reader.done() and await console.resolve(ctx, token) is None:
                        await ws.close(code=CLOSE_SIGNED_OUT, message=b"signed out")
                    continue
                batch = getter.result()
                events = [e for e in batch.events if visible(user, e)]
                if len(events) == len(batch.events):
                    await ws.send_str(batch.text)  # written once for every page
                elif events:
                    await ws.send_str(live.message(events))
    except ConnectionResetError:
        pass
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        sockets.discard(ws)
        await ws.close()
    return ws


async def hub(app: web.Application) -> AsyncIterator[None]:
    """The app's live hub, open while the app runs (after the services context)."""
    async with live.open_hub(app[CONTEXT]) as opened:
        app[LIVE] = opened
        yield


async def close_sockets(app: web.Application) -> None:
    sockets = app[SOCKETS]
    for ws in list(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def setup_live(app: web.Application) -> None:
    app[SOCKETS] = weakref.WeakSet()
    app.cleanup_ctx.append(hub)
    app.on_shutdown.append(close_sockets)
