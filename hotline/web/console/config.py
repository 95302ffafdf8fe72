"""The console's config (``console:`` in config.yaml): sessions, sign-in throttling, pages."""

from __future__ import annotations

from pydantic import Field

from hotline.configbase import Section


class ConsoleConfig(Section):
    #: a session ends this many hours after sign-in, whatever the activity (a shift and margin)
    session_hours: int = Field(default=12, ge=1, le=24 * 7)
    #: ... or after this many minutes without a request or an open page
    idle_minutes: int = Field(default=60, ge=5, le=24 * 60)
    #: the Secure flag of the session cookie; null: set when the request came over HTTPS
    #: (set true behind a proxy that terminates TLS)
    secure_cookie: bool | None = None
    #: sign-in throttling: this many failures for one user name within the window lock it ...
    login_max_failures: int = Field(default=5, ge=1, le=100)
    #: ... and this many failures from one address lock the address
    login_max_failures_per_ip: int = Field(default=30, ge=1, le=10_000)
    #: the window, and how long a lock lasts
    login_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    #: the wallboard's "near due": due within this many hours
    near_due_hours: int = Field(default=24, ge=1, le=24 * 10)
    #: rows on the queue pages
    page_size: int = Field(default=50, ge=10, le=200)
    #: duplicate candidates: open tickets received within this many days ...
    duplicate_days: int = Field(default=7, ge=1, le=90)
    #: ... whose texts share at least this share of character pairs (or the same citizen)
    duplicate_similarity: float = Field(default=0.45, gt=0, le=1)
