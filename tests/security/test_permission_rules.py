"""The permission service's rules on their own (no HTTP): the role matrix, the last-owner rule,
key grants and list visibility."""

from __future__ import annotations

import datetime as dt

import pytest

from qubithub_lite.db.models import ApiKey, Organization, User
from qubithub_lite.errors import BadRequest, Forbidden
from qubithub_lite.services import permissions as perms


def user(is_admin: bool = False, active: bool = True) -> User:
    return User(id="u1", is_admin=is_admin, is_active=active)


def key(org: str | None = None, scopes=("circuit:read", "keys:manage"), expires=None, rate=60) -> ApiKey:
    return ApiKey(id="k1", user="u1", organization=org, scopes=list(scopes), expires_at=expires, rate_limit_per_minute=rate)


@pytest.mark.parametrize("action,allowed", [
    ("view_members", {"owner", "admin", "member"}), ("view_keys", {"owner", "admin", "member"}),
    ("add_member", {"owner", "admin"}), ("remove_member", {"owner", "admin"}), ("manage_keys", {"owner", "admin"}),
    ("revoke_key", {"owner", "admin"}), ("change_role", {"owner"}),
])
def test_role_matrix(action, allowed):
    assert set(perms.ORG_ACTIONS[action]) == allowed


def test_last_owner_rule():
    perms.check_role_change("owner", "owner", owners=1)
    perms.check_role_change("owner", "member", owners=2)
    with pytest.raises(BadRequest):
        perms.check_role_change("owner", "admin", owners=1)
    with pytest.raises(BadRequest):
        perms.check_removal("owner", "owner", owners=1)
    with pytest.raises(Forbidden):
        perms.check_removal("admin", "owner", owners=2)
    perms.check_removal("admin", "member", owners=1)


def test_only_owners_add_owners():
    perms.check_new_member_role("owner", "owner")
    perms.check_new_member_role("admin", "admin")
    with pytest.raises(Forbidden):
        perms.check_new_member_role("admin", "owner")


def test_site_admin_needs_the_flag_an_active_account_and_no_org_key():
    assert perms.is_site_admin(user(is_admin=True))
    assert not perms.is_site_admin(user())
    assert not perms.is_site_admin(user(is_admin=True, active=False))
    assert perms.is_site_admin(perms.Actor(user(is_admin=True), key()))
    assert not perms.is_site_admin(perms.Actor(user(is_admin=True), key(org="o1")))
    assert not perms.is_site_admin("u1") and not perms.is_site_admin(None)


def test_key_grants_never_exceed_the_granting_key():
    later = dt.datetime(2030, 1, 1)
    session = perms.Actor(user())
    perms.check_key_grant(session, ["org:write", "keys:manage"], None, 60, 60)
    with pytest.raises(BadRequest):
        perms.check_key_grant(session, [], None, 61, 60)  # above the user's own limit
    granting = perms.Actor(user(), key(expires=later, rate=10))
    perms.check_key_grant(granting, ["circuit:read"], later, 10, 60)
    for scopes, expires, rate in ((["circuit:write"], later, 10), (["circuit:read"], None, 10),
                                  (["circuit:read"], later + dt.timedelta(days=1), 10), (["circuit:read"], later, 11)):
        with pytest.raises(Forbidden):
            perms.check_key_grant(granting, scopes, expires, rate, 60)
    with pytest.raises(Forbidden):  # an organization key makes no personal keys
        perms.check_key_grant(perms.Actor(user(), key(org="o1")), ["circuit:read"], None, 10, 60)
    with pytest.raises(BadRequest):
        perms.check_key_grant(session, [], None, 10, 60, organization=Organization(id="p", is_personal=True))


def test_visibility_conditions():
    assert perms.Visibility().public_only
    assert perms.Visibility(everything=True).key != perms.Visibility().key
    from peewee import SqliteDatabase

    from qubithub_lite.db.circuits import Circuit

    with SqliteDatabase(":memory:").bind_ctx([Circuit]):
        _, params = Circuit.select(Circuit.id).where(perms.Visibility(owner_id="u1", org_ids=("o1",)).where(Circuit)).sql()
        assert "u1" in params and "o1" in params
        _, params = Circuit.select(Circuit.id).where(perms.Visibility(org_ids=("o1",)).where(Circuit)).sql()
        assert "u1" not in params and "o1" in params  # an organization key: nothing personal


def test_runs_are_controlled_by_their_submitter_or_a_site_admin():
    perms.ensure_run_control(perms.Actor(user()), "u1")
    perms.ensure_run_control(perms.Actor(User(id="u2", is_admin=True)), "u1")
    with pytest.raises(Forbidden):
        perms.ensure_run_control(perms.Actor(User(id="u2")), "u1")
