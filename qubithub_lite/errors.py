"""Domain errors. Services raise these; the HTTP layer turns them into
``{"detail": "…"}`` responses with the matching status. Services never build
HTTP responses themselves."""

from __future__ import annotations


class ApiError(Exception):
    status = 500
    default_detail = "Internal server error"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None):
        self.detail = detail or self.default_detail
        self.headers = headers or {}
        super().__init__(self.detail)

    def __init_subclass__(cls, *, status: int | None = None, default_detail: str | None = None, **kwargs):
        # each error below is one line: its status and default detail, given as class arguments
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if default_detail is not None:
            cls.default_detail = default_detail


class BadRequest(ApiError, status=400, default_detail="Bad request"): ...
class Unauthorized(ApiError, status=401, default_detail="Not authenticated"): ...
class Forbidden(ApiError, status=403, default_detail="Forbidden"): ...
class NotFound(ApiError, status=404, default_detail="Not found"): ...
class Conflict(ApiError, status=409, default_detail="Conflict"): ...
class PayloadTooLarge(ApiError, status=413, default_detail="Request body too large"): ...
class ServiceUnavailable(ApiError, status=503, default_detail="Service unavailable"): ...


class TooManyRequests(ApiError, status=429, default_detail="Too many requests"):
    def __init__(self, detail: str | None = None, *, retry_after: int = 1):
        super().__init__(detail, headers={"Retry-After": str(max(1, int(retry_after)))})
        self.retry_after = retry_after
