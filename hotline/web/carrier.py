"""What every carrier webhook needs: Twilio's signature check, TwiML replies, exactly-once.

Signatures are checked with ``twilio.request_validator.RequestValidator`` against
``HOTLINE_PUBLIC_URL`` + the request's path and query (CONTRACT.md): the URL Twilio called.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping
from functools import wraps
from urllib.parse import urlencode, urlparse

import structlog
from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from twilio.request_validator import RequestValidator, add_port, compare, remove_port
from twilio.twiml import TwiML

from hotline.services import webhooks
from hotline.web.keys import CONTEXT
from hotline.web.once import respond_once

log = structlog.get_logger(__name__)

TwilioHandler = Callable[[web.Request, dict[str, str]], Awaitable[web.Response]]


def public_base(request: web.Request) -> str:
    """The external base URL carriers call; the request's own origin if none is configured."""
    configured = request.app[CONTEXT].settings.secrets.public_url
    if configured:
        return configured.rstrip("/")
    return f"{request.scheme}://{request.host}"


def absolute_url(request: web.Request, path: str, **query: object) -> str:
    """An absolute URL for a TwiML ``action``: what Twilio will call, and sign, next."""
    clean = {k: str(v) for k, v in query.items() if v is not None}
    suffix = f"?{urlencode(clean)}" if clean else ""
    return f"{public_base(request)}{path}{suffix}"


async def twilio_form(request: web.Request) -> dict[str, str]:
    """The webhook's form fields, if ``X-Twilio-Signature`` is right; else 403."""
    token = request.app[CONTEXT].settings.secrets.twilio_auth_token
    signature = request.headers.get("X-Twilio-Signature")
    if not token:
        log.error("twilio webhook refused: TWILIO_AUTH_TOKEN is not set", path=request.path)
        raise web.HTTPForbidden(text="signature cannot be checked")
    if not signature:
        raise web.HTTPForbidden(text="missing X-Twilio-Signature")
    form = await request.post()
    # The signature covers every value of a repeated field: the library reads them with
    # ``getall`` from a multidict (for a plain dict it tries two other APIs first, raising).
    signed: MultiDictProxy[str] | MultiDict[str]
    if all(isinstance(v, str) for v in form.values()):
        signed = form  # type: ignore[assignment] # only strings, as just checked
    else:  # a file part: not Twilio's; its name and text fields are all that can be checked
        signed = MultiDict((k, v) for k, v in form.items() if isinstance(v, str))
    url = public_base(request) + request.rel_url.raw_path_qs
    if not signature_valid(token, url, signed, signature):
        raise web.HTTPForbidden(text="bad X-Twilio-Signature")
    return {k: v for k, v in signed.items()}


@functools.lru_cache(maxsize=8)
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)


@functools.lru_cache(maxsize=512)
def _signed_forms(url: str) -> tuple[str, ...]:
    """The forms of ``url`` that ``RequestValidator.validate`` accepts a signature of (without
    and with the port, made by twilio's own ``remove_port``/``add_port``), the form the URL is
    written in first: Twilio signs the URL as configured, so one signature usually decides."""
    parsed = urlparse(url)
    forms = dict.fromkeys((remove_port(parsed), add_port(parsed)))
    return tuple(sorted(forms, key=lambda form: form != url))


def signature_valid(token: str, url: str, params: Mapping[str, str], signature: str) -> bool:
    """``RequestValidator(token).validate(url, params, signature)`` for form posts, computing
    the signature of the second URL form only when the first does not match (``validate``
    always computes both). The signatures are the library's ``compute_signature``."""
    validator = _validator(token)
    return any(
        compare(validator.compute_signature(form, params), signature) for form in _signed_forms(url)
    )


#: what twilio's ``TwiML.to_xml`` puts before the document
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def twiml(document: TwiML) -> web.Response:
    """A TwiML document (a ``VoiceResponse`` or ``MessagingResponse``) as the HTTP reply.

    The text is ``str(document)``: the library's element tree (``document.xml()``) after the
    declaration. ``to_xml`` serialises the tree to UTF-8 bytes and decodes them again; the same
    tree serialised straight to text is the same string, a third cheaper (every SMS reply pays
    it; ``tests/unit/web/test_carrier.py`` holds the two equal)."""
    text = _DECLARATION + ET.tostring(document.xml(), encoding="unicode")
    return web.Response(text=text, content_type="text/xml", charset="utf-8")


def twilio_webhook(
    source: str, *, stored: bool = True
) -> Callable[[TwilioHandler], Callable[[web.Request], Awaitable[web.Response]]]:
    """Check the signature, then handle each distinct delivery once.

    A delivery is identified by the path and query and the whole signed form, so Twilio's
    retries of one request are the same delivery, while the next step of a call (other
    digits, another status) is a new one. ``stored=False`` is for handlers that are
    idempotent by their own key (a call's arrival is an upsert on its CallSid) and answer a
    retry the same way: they skip the claim and save two transactions on the hot path.
    """

    def decorate(handler: TwilioHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
        @wraps(handler)
        async def wrapper(request: web.Request) -> web.Response:
            params = await twilio_form(request)
            if not stored:
                return await handler(request, params)
            key = webhooks.delivery_key(
                source,
                request.rel_url.raw_path_qs,
                *(f"{k}={params[k]}" for k in sorted(params)),
            )
            return await respond_once(request, source, key, lambda: handler(request, params))

        return wrapper

    return decorate
