"""HTTP error answers: ``{"error": code, "message": ...}`` with a specific status."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError


class Problem(Exception):
    """A client-caused error, answered with ``status`` and a JSON body."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra
        self.headers: dict[str, str] = {}

    def response(self) -> web.Response:
        """The aiohttp response for this problem."""
        body = {"error": self.code, "message": self.message, **self.extra}
        return web.json_response(body, status=self.status, headers=self.headers)


def invalid(exc: ValidationError) -> Problem:
    """422 naming the first field a pydantic model refused."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    return Problem(422, "invalid_field", f"{field}: {first['msg']}", field=field)


def unavailable(message: str, retry_after_s: int = 2) -> Problem:
    """503 with Retry-After: the client may retry, nothing was accepted."""
    problem = Problem(503, "unavailable", message)
    problem.headers["Retry-After"] = str(retry_after_s)
    return problem
