"""Answer one delivery once: a repeated request (a carrier's retry, a client's retry with the
same ``Idempotency-Key``) gets the first answer again and nothing is done twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from hotline.services import webhooks
from hotline.web.keys import CONTEXT


async def respond_once(
    request: web.Request,
    source: str,
    key: str,
    run: Callable[[], Awaitable[web.Response]],
    *,
    busy: type[web.HTTPException] = web.HTTPServiceUnavailable,
) -> web.Response:
    """Claim ``key``; the first claimant runs and its answer is kept for the repeats. A repeat
    that arrives while the first still runs waits briefly, then gets ``busy`` (a carrier
    retries a 503; a client is told with a 409 that its first request is still running)."""
    ctx = request.app[CONTEXT]
    if not await webhooks.claim(ctx, source, key):
        earlier = await webhooks.stored(ctx, key)
        if earlier is None:
            raise busy(text="the first delivery is still being processed; retry")
        return web.Response(
            status=earlier.status,
            text=earlier.body,
            content_type=earlier.content_type,
            charset="utf-8",
        )
    try:
        response = await run()
    except BaseException:
        await webhooks.release(ctx, key)
        raise
    reply = webhooks.StoredReply(response.status, response.content_type, response.text or "")
    await webhooks.store(ctx, key, reply)
    return response
