"""Domain errors. One middleware maps them to HTTP (see ``hotline.web.errors``)."""


class DomainError(Exception):
    """Base class. ``code`` is the machine-readable code of the JSON error body."""

    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class IllegalTransition(DomainError):
    """The action is not allowed in the ticket's current state (HTTP 409)."""

    code = "illegal_transition"


class Conflict(DomainError):
    """A concurrent change or a conflicting duplicate (HTTP 409)."""

    code = "conflict"


class InvalidField(DomainError):
    """A field's value is not acceptable (HTTP 422). ``field`` names it."""

    code = "invalid_field"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(DomainError):
    """The thing named does not exist, or the caller may not know it exists (HTTP 404)."""

    code = "not_found"


class Forbidden(DomainError):
    """The caller is known but may not do this (HTTP 403)."""

    code = "forbidden"


class TooManyAttempts(DomainError):
    """Too many failed attempts from this client: try again in ``retry_after`` seconds (429)."""

    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
