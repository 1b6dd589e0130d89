"""/circuits (API reference "Circuits", platform-notes §4). Thin handlers:
parse → ``ctx.hub.circuits`` → serialise."""

from __future__ import annotations

from ..errors import ApiError
from ..schemas.circuits import (
    CircuitCreate, CircuitDetail, CircuitList, CircuitListQuery, CircuitUpdate, FileList, FilesQuery, ForkRequest,
    OrgCircuitsQuery, ResolveQuery, StarResponse, UploadQuery, UploadResult,
)
from .uploads import drain_body, iter_multipart_files
from .routing import Ctx, Router, json_response

router = Router("circuits")
READ, WRITE = "circuit:read", "circuit:write"


def _uid(ctx: Ctx):
    """The caller for the service's permission checks (anonymous included)."""
    return ctx.actor


@router.get("/circuits", query=CircuitListQuery, response=CircuitList, scope=READ, errors=(400,))
async def list_circuits(ctx: Ctx):
    """Circuits the caller may see, filtered (framework, tags, qubits, q), sorted and paginated."""
    return await ctx.hub.circuits.list(_uid(ctx), ctx.query)


@router.post("/circuits", body=CircuitCreate, response=CircuitDetail, status=201, auth="user", scope=WRITE,
             errors=(400, 403, 404))
async def create_circuit(ctx: Ctx):
    """Create circuit metadata (files are uploaded separately)."""
    return await ctx.hub.circuits.create(ctx.actor, ctx.body)


@router.get("/circuits/resolve", query=ResolveQuery, response=CircuitDetail, scope=READ, errors=(400, 404))
async def resolve_circuit(ctx: Ctx):
    """A circuit by `repo_name` (`owner/name`; owner is a username or an organization slug)."""
    return await ctx.hub.circuits.resolve(_uid(ctx), ctx.query.repo_name)


@router.get("/circuits/{circuit_id}", response=CircuitDetail, scope=READ, errors=(404,))
async def get_circuit(ctx: Ctx):
    """Full details with every version (counts a view)."""
    return await ctx.hub.circuits.view(_uid(ctx), ctx.path["circuit_id"])


@router.put("/circuits/{circuit_id}", body=CircuitUpdate, response=CircuitDetail, auth="user", scope=WRITE,
            errors=(400, 403, 404))
async def update_circuit(ctx: Ctx):
    """Partial update (owner or organization member)."""
    return await ctx.hub.circuits.update(ctx.actor, ctx.path["circuit_id"], ctx.body)


@router.delete("/circuits/{circuit_id}", status=204, auth="user", scope=WRITE, errors=(403, 404))
async def delete_circuit(ctx: Ctx):
    """Delete a circuit, its versions and (once unreferenced) its stored files."""
    await ctx.hub.circuits.delete(ctx.actor, ctx.path["circuit_id"])


@router.post("/circuits/{circuit_id}/star", response=StarResponse, auth="user", scope=WRITE, action="star",
             errors=(404, 429))
async def star_circuit(ctx: Ctx):
    """Toggle the caller's star."""
    return await ctx.hub.circuits.star(ctx.actor, ctx.path["circuit_id"])


@router.post("/circuits/{circuit_id}/fork", body=ForkRequest, response=CircuitDetail, status=201, auth="user",
             scope=WRITE, action="fork", errors=(403, 404, 409, 429))
async def fork_circuit(ctx: Ctx):
    """Copy the circuit (all versions, by reference) into the caller's namespace."""
    return await ctx.hub.circuits.fork(ctx.actor, ctx.path["circuit_id"], ctx.body.name)


async def _upload(ctx: Ctx, field: str, batch: bool):
    files = iter_multipart_files(ctx.request, [field])
    try:
        outcome = await ctx.hub.circuits.upload(
            ctx.actor, ctx.path["circuit_id"], files, ctx.query.commit_message, batch=batch
        )
    except ApiError:
        await drain_body(ctx.request)
        raise
    finally:
        await files.aclose()
    result = UploadResult.model_validate(outcome.__dict__)
    return json_response(result, 207 if outcome.errors else 201)


@router.post("/circuits/{circuit_id}/upload", query=UploadQuery, response=UploadResult, status=201, auth="user",
             scope=WRITE, multipart={"file": "The file; its name may contain '/' (sub-folders)"},
             errors=(400, 403, 404, 413))
async def upload_file(ctx: Ctx):
    """Upload one file (streamed); creates the next version."""
    return await _upload(ctx, "file", batch=False)


@router.post("/circuits/{circuit_id}/upload-batch", query=UploadQuery, response=UploadResult, status=201,
             auth="user", scope=WRITE, multipart={"files": "Repeated: the files of one version"},
             errors=(207, 400, 403, 404, 413))
async def upload_batch(ctx: Ctx):
    """Upload several files as one version; 207 with `errors` when some were refused."""
    return await _upload(ctx, "files", batch=True)


@router.get("/circuits/{circuit_id}/files", query=FilesQuery, response=FileList, scope=READ, errors=(400, 404))
async def list_circuit_files(ctx: Ctx):
    """The file tree of the latest version, of `?version=N`, or of `?ref=<git commit sha>`."""
    return await ctx.hub.circuits.list_files(_uid(ctx), ctx.path["circuit_id"], ctx.query.version, ctx.query.ref)


@router.get("/orgs/{slug}/circuits", query=OrgCircuitsQuery, response=CircuitList, scope=READ, errors=(400, 404))
async def org_circuits(ctx: Ctx):
    """The organization's circuits: public ones, all of them for members (a personal
    organization shows its owner's personal circuits)."""
    org = await ctx.hub.orgs.by_slug(ctx.path["slug"])
    return await ctx.hub.circuits.list_for_org(org, _uid(ctx), ctx.query)
