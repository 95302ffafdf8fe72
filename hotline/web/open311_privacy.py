"""What of a citizen's own text Open311 may show: see :mod:`hotline.services.privacy`, which
holds the rules for every public view (Open311 and the public feed of rated replies)."""

from __future__ import annotations

from hotline.services.privacy import MIN_NAME, own_secrets, redact

__all__ = ["MIN_NAME", "own_secrets", "redact"]
