"""/circuits (API reference "Circuits", platform-notes §4). Thin handlers:
parse → ``ctx.hub.circuits`` → serialise."""

from __future__ import annotations

from ..errors import ApiError
from ..schemas.circuits import (
    CircuitCreate, CircuitDetail, CircuitList, CircuitListQuery, CircuitUpdate, FileList, FilesQuery, ForkRequest,
    OrgCircuitsQuery, ResolveQuery, StarResponse, UploadQuery, UploadResult,
)
from .uploads import drain_body, iter_multipart_files
from .resources import Resource
from .routing import Ctx, Router, json_response

router = Router("circuits")
READ, WRITE = "circuit:read", "circuit:write"


def _uid(ctx: Ctx):
    """The caller for the service's permission checks (anonymous included)."""
    return ctx.actor


CIRCUITS = Resource(router, "circuits", "circuit", READ, WRITE)
CIRCUITS.collection(query=CircuitListQuery, listing=CircuitList, create=CircuitCreate, detail=CircuitDetail,
                    list_doc="Circuits the caller may see, filtered (framework, tags, qubits, q), sorted and paginated.",
                    create_doc="Create circuit metadata (files are uploaded separately).")


@router.get("/circuits/resolve", query=ResolveQuery, response=CircuitDetail, scope=READ, errors=(400, 404))
async def resolve_circuit(ctx: Ctx):
    """A circuit by `repo_name` (`owner/name`; owner is a username or an organization slug)."""
    return await ctx.hub.circuits.resolve(_uid(ctx), ctx.query.repo_name)


CIRCUITS.item(update=CircuitUpdate, detail=CircuitDetail, get_doc="Full details with every version (counts a view).",
              update_doc="Partial update (owner or organization member).",
              delete_doc="Delete a circuit, its versions and (once unreferenced) its stored files.")
CIRCUITS.star_and_fork(star=StarResponse, star_doc="Toggle the caller's star.", star_errors=(404, 429), fork=ForkRequest,
                       detail=CircuitDetail, fork_errors=(403, 404, 409, 429),
                       fork_doc="Copy the circuit (all versions, by reference) into the caller's namespace.")


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
