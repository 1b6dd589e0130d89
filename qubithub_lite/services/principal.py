"""Who is calling: a user, reached through a JWT or through an API key."""

from __future__ import annotations

from dataclasses import dataclass

from ..db.models import ApiKey, User
from ..errors import Forbidden


@dataclass
class Principal:
    user: User
    api_key: ApiKey | None = None

    @property
    def user_id(self) -> str:
        return self.user.id

    def require_scope(self, scope: str | None) -> None:
        """Keys carry scopes; a JWT session has them all."""
        from .permissions import actor

        if scope and not actor(self).has_scope(scope):
            raise Forbidden(f"API key lacks the '{scope}' scope")
