"""Site administration of accounts: list, show, disable/enable, delete, passwords,
admin rights and class imports. Used by the ``qubithub-lite users`` commands and by the
``/admin/users`` routes; no HTTP and no SQL text here beyond the query builder.

Deleting a user (the documented rule):

* their *personal* circuits, datasets and spaces are deleted as their own delete would
  (versions, files, stars on them, fork counts; blob references released and unreferenced
  blobs removed), and so are the runs anyone made of those circuits;
* what they created inside a *shared organization* stays with the organization: it passes
  to the organization's longest-standing owner (so a class keeps its course material);
  deleting the last owner of a shared organization is refused until another member is
  made owner;
* their own runs elsewhere are cancelled and deleted (statistics follow), their stars are
  withdrawn (counts follow), their memberships, sessions and API keys go, then the personal
  organization and the account itself. Versions they pushed to shared resources keep their
  content with the author cleared.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from peewee import IntegrityError

from ..db.circuits import Star
from ..db.fields import new_id, utcnow
from ..db.models import ApiKey, AuditLog, Membership, Organization, User
from ..errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from ..logs import fields
from . import permissions, social
from .accounts import NewUser
from .passwords import password_problem

log = logging.getLogger(__name__)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: Generated passwords: no look-alike characters (0/o, 1/l/i), read out and typed by students.
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
ORG_ROLES = ("owner", "admin", "member")
SITE_ROLES = {"": (False, False), "member": (False, False), "student": (False, False),
              "pro": (False, True), "admin": (True, False)}


def _valid_slug(slug: str) -> bool:
    from ..schemas.auth import check_username

    try:
        check_username(slug)
    except ValueError:
        return False
    return True


def generate_password(groups: int = 4, size: int = 4) -> str:
    """A strong password a student can type: e.g. ``k7mq-x4tr-9hzp-a2vd`` (~79 bits)."""
    return "-".join("".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(size)) for _ in range(groups))


def require_site_admin(principal: Any, *, allow_api_key: bool = False) -> User:
    """The one site-admin check (routes under ``/admin`` and ``/metrics``): the caller must be
    a site administrator; API keys are refused unless ``allow_api_key`` (they carry no admin
    scope). Decided by the permission service; to everyone else the admin routes do not exist
    (404), as private things everywhere."""
    if principal is None:
        raise Unauthorized("authentication required")
    if not permissions.is_site_admin(principal):  # (never through an organization key)
        raise NotFound("Not found")
    if principal.api_key is not None and not allow_api_key:
        raise Forbidden("site administration needs a signed-in session, not an API key")
    return principal.user


def is_site_admin(principal: Any, *, allow_api_key: bool = False) -> bool:
    """:func:`require_site_admin` as a yes/no (for what only admins see more of)."""
    try:
        require_site_admin(principal, allow_api_key=allow_api_key)
    except (Unauthorized, Forbidden, NotFound):
        return False
    return True


def user_dict(user: User) -> dict[str, Any]:
    return {
        "id": user.id, "username": user.username, "email": user.email, "name": user.name,
        "is_admin": bool(user.is_admin), "is_pro": bool(user.is_pro), "disabled": not user.is_active,
        "disabled_at": user.disabled_at, "created_at": user.created_at, "updated_at": user.updated_at,
    }


@dataclass
class ImportRow:
    line: int
    user: NewUser
    generated: bool
    org: str | None = None
    org_role: str = "member"
    skip: bool = False


@dataclass
class ImportPlan:
    rows: list[ImportRow]
    #: slug -> existing organization id, or None for one created by the import.
    orgs: dict[str, str | None] = field(default_factory=dict)

    @property
    def to_create(self) -> list[ImportRow]:
        return [r for r in self.rows if not r.skip]

    @property
    def skipped(self) -> int:
        return sum(r.skip for r in self.rows)


class ImportProblems(BadRequest):
    """Every problem of an import file, by line; nothing was created."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = "; ".join(problems[:20]) + (f"; … {len(problems) - 20} more" if len(problems) > 20 else "")
        super().__init__(f"nothing imported: {shown}")


class UserAdmin:
    """``resources``: the owned-resource services by kind (``circuits``, ``datasets``,
    ``spaces``), whose models it counts and whose rows a deletion takes apart."""

    def __init__(self, db, accounts, blobs, runs, resources: dict[str, Any]):
        self.db = db
        self.accounts = accounts
        self.blobs = blobs
        self.runs = runs
        self.resources = resources

    # Finding -------------------------------------------------------------------------
    async def find(self, ident: str) -> User:
        """A user by id, username or email."""
        ident = (ident or "").strip()
        if UUID_RE.match(ident):
            where = User.id == ident
        elif "@" in ident:
            where = User.email == ident.lower()
        else:
            where = User.username == ident.lower()
        user = await User.aget_or_none(where) if ident and len(ident) <= 254 else None
        if user is None:
            raise NotFound(f"no user {ident!r}")
        return user

    async def list(self, *, search: str | None = None, status: str | None = None, role: str | None = None,
                   limit: int = 100, offset: int = 0) -> tuple[int, list[User]]:
        query = User.select()
        if search:
            pattern = f"%{search.strip().lower()}%"
            query = query.where(User.username ** pattern | User.email ** pattern | User.name ** pattern)
        if status == "active":
            query = query.where(User.is_active == True)  # noqa: E712
        elif status == "disabled":
            query = query.where(User.is_active == False)  # noqa: E712
        if role == "admin":
            query = query.where(User.is_admin == True)  # noqa: E712
        elif role == "pro":
            query = query.where(User.is_pro == True)  # noqa: E712
        elif role == "member":
            query = query.where((User.is_admin == False) & (User.is_pro == False))  # noqa: E712
        total = await self.db.count(query)
        rows = await self.db.list(query.order_by(User.username).limit(limit).offset(offset))
        return total, rows

    async def describe(self, user: User) -> dict[str, Any]:
        """Everything ``show`` prints: the account, its organizations and what it owns."""
        data = user_dict(user)
        data["organizations"] = [
            {"slug": org.slug, "name": org.name, "role": role, "is_personal": bool(org.is_personal)}
            for org, role in await self.accounts.memberships(user)
        ]
        for key, model in ((key, service.model) for key, service in self.resources.items()):
            data[key] = await self.db.count(model.select().where(model.owner == user.id))
        from ..db.runs import Run

        data["runs"] = await self.db.count(Run.select().where(Run.user == user.id))
        data["api_keys"] = await self.db.count(ApiKey.select().where((ApiKey.user == user.id) & (ApiKey.is_active == True)))  # noqa: E712
        return data

    # Guards --------------------------------------------------------------------------
    async def _other_active_admins(self, user: User) -> int:
        return await self.db.count(User.select().where(
            (User.is_admin == True) & (User.is_active == True) & (User.id != user.id)))  # noqa: E712

    async def _guard(self, user: User, actor_id: str | None, what: str) -> None:
        if actor_id is not None and actor_id == user.id:
            raise Conflict(f"you cannot {what} your own account")
        if user.is_admin and user.is_active and not await self._other_active_admins(user):
            raise Conflict(f"cannot {what} {user.username}: the last active site administrator")

    async def _audit(self, actor_id: str | None, action: str, user: User, data: dict[str, Any] | None = None) -> None:
        await AuditLog.acreate(id=new_id(), actor_id=actor_id, action=action, target_type="user",
                               target_id=user.id, data=data, created_at=utcnow())

    # Changes -------------------------------------------------------------------------
    async def set_active(self, ident: str, active: bool, *, actor_id: str | None = None) -> User:
        """Disable (every token and key stops working at once: sessions end, keys are refused
        while disabled) or enable an account."""
        user = await self.find(ident)
        if not active:
            await self._guard(user, actor_id, "disable")
        now = utcnow()
        try:
            async with self.db.tx():
                await self.db.execute(User.update(
                    is_active=active, disabled_at=None if active else now, updated_at=now).where(User.id == user.id))
                await self._audit(actor_id, "user.enabled" if active else "user.disabled", user)
            if not active:
                await self.accounts.end_sessions(user.id)
        finally:
            self.accounts.forget_user(user.id)
        log.info("user.enabled" if active else "user.disabled", extra=fields(user_id=user.id, actor=actor_id))
        return await self.find(user.id)

    async def set_admin(self, ident: str, admin: bool, *, actor_id: str | None = None) -> User:
        user = await self.find(ident)
        if not admin:
            await self._guard(user, actor_id, "demote")
        try:
            async with self.db.tx():
                await self.db.execute(User.update(is_admin=admin, updated_at=utcnow()).where(User.id == user.id))
                await self._audit(actor_id, "user.promoted" if admin else "user.demoted", user)
        finally:
            self.accounts.forget_user(user.id)
        log.info("user.promoted" if admin else "user.demoted", extra=fields(user_id=user.id, actor=actor_id))
        return await self.find(user.id)

    async def set_password(self, ident: str, password: str | None, *, actor_id: str | None = None) -> tuple[User, str, int]:
        """Set a password (``None``: generate one). Every session of the user ends.
        Returns (user, the password, sessions ended)."""
        user = await self.find(ident)
        generated = password is None
        password = generate_password() if generated else password
        await self.accounts.set_password(user, password)
        ended = await self.accounts.end_sessions(user.id)
        async with self.db.tx():
            await self._audit(actor_id, "user.password_reset" if generated else "user.password_set", user)
        return await self.find(user.id), password, ended

    async def delete(self, ident: str, *, actor_id: str | None = None) -> dict[str, int]:
        """Delete an account under the rule in this module's docstring. Returns what went."""
        user = await self.find(ident)
        await self._guard(user, actor_id, "delete")
        personal = await Organization.aget_or_none((Organization.slug == user.username) & (Organization.is_personal == True))  # noqa: E712
        shared = await self.db.list(
            Membership.select(Membership.organization).join(Organization)
            .where((Membership.user == user.id) & (Membership.role == "owner") & (Organization.is_personal == False))  # noqa: E712
        )
        heirs: dict[str, str] = {}
        orphaned = []
        for m in shared:
            heir = await self.db.first(
                Membership.select(Membership.user).where(
                    (Membership.organization == m.organization_id) & (Membership.role == "owner") & (Membership.user != user.id))
                .order_by(Membership.created_at))
            if heir is None:
                orphaned.append(m.organization_id)
            else:
                heirs[m.organization_id] = heir.user_id
        if orphaned:
            slugs = [o.slug for o in await self.db.list(Organization.select().where(Organization.id.in_(orphaned)))]
            raise Conflict(f"{user.username} is the only owner of {', '.join(sorted(slugs))}: make another member owner first")
        # Stop everything at once, then take things apart.
        await self.set_active(user.id, False, actor_id=None)
        summary = {"circuits": 0, "datasets": 0, "spaces": 0, "runs": 0, "stars": 0, "reassigned": 0}
        from ..db.runs import Run, ACTIVE

        services = self.resources
        circuit_model = services["circuits"].model
        personal_ids = [None] + ([personal.id] if personal is not None else [])
        own_circuits = circuit_model.select(circuit_model.id).where(
            (circuit_model.owner == user.id) & (circuit_model.organization.is_null() | circuit_model.organization.in_(personal_ids[1:] or [""])))
        runs = await self.db.list(Run.select(Run.id, Run.user, Run.status).where((Run.user == user.id) | Run.circuit.in_(own_circuits)))
        for run in runs:
            if run.status in ACTIVE:
                await self.runs.cancel_or_delete(run.user_id, run.id)
            await self.runs.cancel_or_delete(run.user_id, run.id)
            summary["runs"] += 1
        for key, service in services.items():
            model = service.model
            rows = await self.db.list(model.select(model.id, model.organization).where(model.owner == user.id))
            for row in rows:
                if row.organization_id is None or row.organization_id in personal_ids:
                    await service.delete(user, row.id)
                    summary[key] += 1
                else:
                    heir = heirs.get(row.organization_id) or await self._org_heir(row.organization_id, user.id)
                    async with self.db.tx():
                        await self.db.execute(model.update(owner=heir).where(model.id == row.id))
                    summary["reassigned"] += 1
        targets = {s.star_target: s.model for s in services.values()}
        async with self.db.tx():
            stars = await self.db.list(Star.select(Star.target_type, Star.target_id).where(Star.user == user.id))
            await self.db.execute(Star.delete().where(Star.user == user.id))
            for star in stars:  # one star each: an atomic decrement (a recount loses concurrent toggles)
                model = targets.get(star.target_type)
                if model is not None:
                    await social.bump_counter(self.db, model, star.target_id, "stars_count", -1)
            summary["stars"] = len(stars)
            await self._audit(actor_id, "user.deleted", user, {"username": user.username, **summary})
            if personal is not None:
                await self.db.execute(Organization.delete().where(Organization.id == personal.id))
            from ..db.circuits import StorageUsage
            from ..db.runs import RunStats

            keys = [f"user:{user.id}"] + ([f"org:{personal.id}"] if personal is not None else [])
            await self.db.execute(StorageUsage.delete().where(StorageUsage.owner_key.in_(keys)))
            await self.db.execute(RunStats.delete().where((RunStats.scope == "user") & (RunStats.key == user.id)))
            await self.db.execute(User.delete().where(User.id == user.id))
        self.accounts.forget_user(user.id)
        await self.blobs.collect_garbage()
        log.info("user.deleted", extra=fields(user_id=user.id, actor=actor_id, **summary))
        return summary

    async def _org_heir(self, organization_id: str, user_id: str) -> str:
        """Who takes over a resource of a shared organization the user was a plain member of."""
        heir = await self.db.first(
            Membership.select(Membership.user).where(
                (Membership.organization == organization_id) & (Membership.user != user_id))
            .order_by(Membership.role != "owner", Membership.role != "admin", Membership.created_at))
        if heir is None:
            raise Conflict("an organization of theirs has no other member to take over their resources")
        return heir.user_id

    # Class import --------------------------------------------------------------------
    async def plan_import(self, rows: list[tuple[int, dict[str, str]]], *, org: str | None = None,
                          skip_existing: bool = False) -> ImportPlan:
        """Check every row (format, duplicates within the file and against the database,
        organizations) before anything is created. Raises :class:`ImportProblems` listing
        every bad line."""
        from pydantic import ValidationError

        from ..schemas.auth import RegisterRequest

        def describe_validation(exc: ValidationError) -> str:
            return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors()[:3])

        problems: list[str] = []
        planned: list[ImportRow] = []
        seen_names: dict[str, int] = {}
        seen_emails: dict[str, int] = {}
        for line, row in rows:
            role = (row.get("role") or "").strip().lower()
            if role not in SITE_ROLES:
                problems.append(f"line {line}: unknown role {role!r} (admin, pro or empty)")
                continue
            password = row.get("password") or ""
            generated = not password
            if generated:
                password = generate_password()
            try:
                req = RegisterRequest(email=(row.get("email") or "").strip(), username=(row.get("username") or "").strip(),
                                      password=password, name=(row.get("name") or "").strip())
            except ValidationError as exc:
                problems.append(f"line {line}: {describe_validation(exc)}")
                continue
            weak = password_problem(req.password, username=req.username, email=req.email)
            if weak:
                problems.append(f"line {line}: {weak}")
                continue
            row_org = (row.get("org") or "").strip().lower() or org
            org_role = (row.get("org_role") or "").strip().lower() or "member"
            if org_role not in ORG_ROLES:
                problems.append(f"line {line}: unknown org_role {org_role!r} (owner, admin or member)")
                continue
            if (row.get("org_role") or "").strip() and not row_org:
                problems.append(f"line {line}: org_role without an organization (add an org column or --org)")
                continue
            for seen, key, what in ((seen_names, req.username, "username"), (seen_emails, req.email, "email")):
                if key in seen:
                    problems.append(f"line {line}: {what} {key!r} repeats line {seen[key]}")
                seen.setdefault(key, line)
            admin, pro = SITE_ROLES[role]
            planned.append(ImportRow(line, NewUser(email=req.email, username=req.username, password=req.password,
                                                   name=req.name, is_admin=admin, is_pro=pro),
                                     generated, row_org, org_role))
        # Against the database.
        names = [r.user.username for r in planned]
        emails = [r.user.email for r in planned]
        taken_names = set()
        taken_emails = set()
        slugs_taken = set()
        for i in range(0, len(planned), 500):
            taken_names |= {u.username for u in await self.db.list(
                User.select(User.username).where(User.username.in_(names[i:i + 500])))}
            taken_emails |= {u.email for u in await self.db.list(
                User.select(User.email).where(User.email.in_(emails[i:i + 500])))}
            slugs_taken |= {o.slug for o in await self.db.list(
                Organization.select(Organization.slug).where(Organization.slug.in_(names[i:i + 500])))}
        for r in planned:
            exists = r.user.username in taken_names or r.user.email in taken_emails
            if exists and skip_existing:
                r.skip = True
            elif r.user.username in taken_names:
                problems.append(f"line {r.line}: username {r.user.username!r} already taken")
            elif r.user.email in taken_emails:
                problems.append(f"line {r.line}: email {r.user.email!r} already registered")
            elif r.user.username in slugs_taken:
                problems.append(f"line {r.line}: username {r.user.username!r} already taken by an organization")
        plan = ImportPlan(planned)
        wanted = {r.org for r in planned if r.org}
        for slug in sorted(wanted):
            existing = await Organization.aget_or_none(Organization.slug == slug)
            if existing is not None:
                if existing.is_personal:
                    problems.append(f"organization {slug!r} is a personal namespace")
                plan.orgs[slug] = existing.id
            elif not _valid_slug(slug):
                problems.append(f"organization {slug!r}: must be 3-39 lowercase letters, digits and hyphens")
            elif slug in names or await self.db.exists(User.select().where(User.username == slug)):
                problems.append(f"organization {slug!r}: the name is taken by a user")
            elif not any(r.org == slug and r.org_role == "owner" and not r.skip for r in planned):
                problems.append(f"organization {slug!r} does not exist: create it first, or give one row "
                                f"org_role=owner to create it")
            else:
                plan.orgs[slug] = None
        if problems:
            raise ImportProblems(problems)
        return plan

    async def run_import(self, plan: ImportPlan, *, actor_id: str | None = None, progress=None) -> dict[str, int]:
        """Hash every password (off the event loop), then create every account, personal
        organization and membership in ONE transaction: all or nothing."""
        hashes = []
        for r in plan.to_create:
            hashes.append(await self.accounts.hasher.hash(r.user.password))
            if progress is not None:
                progress(1)
        now = utcnow()
        org_ids = dict(plan.orgs)
        enrolled = 0
        try:
            async with self.db.tx():
                for slug, org_id in org_ids.items():
                    if org_id is None:
                        org = await Organization.acreate(id=new_id(), name=slug, slug=slug, is_personal=False, created_at=now)
                        org_ids[slug] = org.id
                for r, password_hash in zip(plan.to_create, hashes):
                    new = r.user
                    user = await User.acreate(
                        id=new_id(), email=new.email, username=new.username, name=new.name or new.username,
                        password_hash=password_hash, is_admin=new.is_admin, is_pro=new.is_pro,
                        created_at=now, updated_at=now)
                    personal = await Organization.acreate(id=new_id(), name=user.name, slug=new.username,
                                                          is_personal=True, created_at=now)
                    await Membership.acreate(id=new_id(), organization=personal, user=user, role="owner", created_at=now)
                    if r.org:
                        await Membership.acreate(id=new_id(), organization=org_ids[r.org], user=user,
                                                 role=r.org_role, created_at=now)
                        enrolled += 1
                # Rows skipped as existing are still enrolled when asked (idempotent re-runs).
                for r in plan.rows:
                    if r.skip and r.org:
                        existing = await User.aget_or_none(User.username == r.user.username)
                        if existing is not None and not await self.db.exists(Membership.select().where(
                                (Membership.organization == org_ids[r.org]) & (Membership.user == existing.id))):
                            await Membership.acreate(id=new_id(), organization=org_ids[r.org], user=existing,
                                                     role=r.org_role, created_at=now)
                            enrolled += 1
                await AuditLog.acreate(id=new_id(), actor_id=actor_id, action="users.imported", target_type="user",
                                       target_id=actor_id or "cli", data={"created": len(hashes)}, created_at=now)
        except IntegrityError:
            raise Conflict("an account in the file was created meanwhile; nothing imported, run it again") from None
        log.info("users.imported", extra=fields(created=len(hashes), skipped=plan.skipped, actor=actor_id))
        return {"created": len(hashes), "skipped": plan.skipped, "enrolled": enrolled,
                "organizations_created": sum(1 for v in plan.orgs.values() if v is None)}

