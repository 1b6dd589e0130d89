"""Query functions of the accounts service (users, memberships, refresh tokens).

The service (:mod:`qubithub_lite.services.accounts`) keeps the rules; the statements that
read and change these rows live here.
"""

from __future__ import annotations

import datetime as dt

from peewee import fn

from .core import Db
from .models import Membership, Organization, RefreshToken, User

_memberships_sql: dict[str, str] = {}


async def email_taken(db: Db, email: str) -> bool:
    return await db.exists(User.select().where(User.email == email))


async def username_taken(db: Db, username: str) -> bool:
    return await db.exists(User.select().where(User.username == username))


async def org_slug_taken(db: Db, slug: str) -> bool:
    return await db.exists(Organization.select().where(Organization.slug == slug))


async def memberships(db: Db, user_id: str) -> list[Organization]:
    """The user's organizations, personal first, then by slug; each row carries its
    ``member_role``. /auth/me asks on every call: the statement is compiled once per
    parameter style."""
    p = db.engine.param
    sql = _memberships_sql.get(p)
    if sql is None:
        org, member = Organization._meta.table_name, Membership._meta.table_name
        sql = _memberships_sql[p] = (
            f'SELECT o.*, m."role" AS member_role FROM "{member}" m JOIN "{org}" o ON o."id" = m."organization_id" '
            f'WHERE m."user_id" = {p} ORDER BY o."is_personal" DESC, o."slug"'
        )
    return await db.models(Organization, sql, [user_id])


async def revoke_refresh_family(db: Db, family_id: str, now: dt.datetime) -> None:
    """Revoke every still-live token of one login (a reused refresh token)."""
    await db.execute(
        RefreshToken.update(revoked_at=now)
        .where((RefreshToken.family_id == family_id) & RefreshToken.revoked_at.is_null())
    )


async def revoke_refresh_token(db: Db, token_hash: str, now: dt.datetime) -> None:
    await db.execute(
        RefreshToken.update(revoked_at=now)
        .where((RefreshToken.token_hash == token_hash) & RefreshToken.revoked_at.is_null())
    )


async def revoke_live_refresh_tokens(db: Db, user_id: str, now: dt.datetime) -> int:
    """Revoke the user's live (unrevoked, unrotated, unexpired) refresh tokens; how many."""
    revoked = await db.execute(
        RefreshToken.update(revoked_at=now)
        .where((RefreshToken.user == user_id) & RefreshToken.revoked_at.is_null()
               & RefreshToken.rotated_at.is_null() & (RefreshToken.expires_at > now))
    )
    return int(revoked or 0)


async def bump_session_generation(db: Db, user_id: str, now: dt.datetime) -> None:
    """Access tokens issued before this stop working."""
    await db.execute(
        User.update(session_generation=User.session_generation + 1, updated_at=now).where(User.id == user_id)
    )


async def owner_count(db: Db, org_id: str) -> int:
    """How many owners the organization has (inside the transaction that checks the last-owner rule)."""
    return await db.scalar(
        Membership.select(fn.COUNT(Membership.id)).where((Membership.organization == org_id) & (Membership.role == "owner"))
    )
