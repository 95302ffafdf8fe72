"""Attachments: what a file is, judged by its first bytes (a name or a browser's word is not
evidence), and a safe name to keep it under."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

#: content type → the magic numbers its files start with
KNOWN_TYPES: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
}

TYPE_LABELS = {
    "image/jpeg": "JPG 图片",
    "image/png": "PNG 图片",
    "image/gif": "GIF 图片",
    "image/webp": "WebP 图片",
    "application/pdf": "PDF 文档",
}


def sniff(head: bytes) -> str | None:
    """The content type of a file that starts with ``head``, or None if it is none we know."""
    for ctype, magics in KNOWN_TYPES.items():
        if any(head.startswith(m) for m in magics):
            if ctype == "image/webp" and head[8:12] != b"WEBP":
                continue
            return ctype
    return None


_UNSAFE = re.compile(r"[^\w.\-()（）\u4e00-\u9fff ]+")


def safe_filename(name: str | None, fallback: str = "附件") -> str:
    """The last path part of ``name``, without control or path characters, at most 100 chars."""
    text = unicodedata.normalize("NFC", unquote(name or ""))  # some clients percent-encode
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _UNSAFE.sub("_", text).strip(" .")
    return (text or fallback)[:100]
