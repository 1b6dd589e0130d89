"""Access checks and card references shared by the circuits, datasets and spaces services.

The rules themselves live in :mod:`.permissions` (the one permission service); the names
below are kept for the modules that import them from here. Loading, cards, stars and
deletion of a resource: :class:`.resources.ResourceService`.
"""

from __future__ import annotations

import re
from typing import Any

from ..db.core import Db
from . import permissions as perms
from .permissions import (  # noqa: F401  (re-exported)
    ADMIN_ROLES, WRITE_ROLES, Owned, can_read, ensure_readable, member_org_ids, organization_for_create, role_in,
)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def ensure_writable(db: Db, who: Any, res: Owned, what: str = "resource", *, admin: bool = False) -> None:
    """Write (``admin``: delete) permission; invisible → 404, visible → 403."""
    await perms.ensure(db, who, "delete" if admin else "write", res, what)


def owner_ref(user_id: str, username: str, name: str | None, avatar: str | None) -> dict[str, Any]:
    """How a card shows its owner."""
    return {"id": user_id, "username": username, "name": name, "avatar": avatar}


def org_ref(org_id: str | None, name: str | None, slug: str | None) -> dict[str, Any] | None:
    """How a card shows its organization (None for a personal resource)."""
    return {"id": org_id, "name": name, "slug": slug} if org_id is not None else None
