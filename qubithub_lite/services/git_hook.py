"""The ``pre-receive`` hook of a ``git push`` (run by ``git receive-pack`` as
``python -m qubithub_lite.services.git_hook``; see ``git_repos.py``).

git has already received the pack into its quarantine (nothing is visible, and everything
is dropped unless this hook succeeds) and checked it with ``receive.fsckObjects`` (``..``
or ``.git`` names, bad modes, malformed objects). This hook checks what a circuit version
needs, for every pushed commit, reading objects with git itself:

- one ref, ``refs/heads/main``, updated from the current head (no deletion, no other refs);
- linear history on top of the current head (no merges), at most ``max_commits`` commits;
- trees of regular files only (no symlinks, no submodules), at most ``max_entries`` entries,
  UTF-8 names that pass the upload path rules, accepted file kinds, sizes under the limit,
  no ``metadata.json`` next to a ``qubithub.toml`` (it is generated), a valid manifest;
- the storage the new versions would take, against the remaining quota.

Then it writes the plan (``plan.json``, each commit's raw commit and tree objects, the new
blobs' bytes) into the push's work dir and waits for the server's verdict: the server
stores the versions in one transaction and answers ``ok``, or refuses with a reason. Any
refusal is printed on stderr (git shows it as ``remote: …`` and reports the ref ``ng``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ZERO = "0" * 40
REF = "refs/heads/main"


class Refused(Exception):
    pass


def git(*args: str, data: bytes | None = None) -> bytes:
    proc = subprocess.run(["git", *args], input=data, capture_output=True, timeout=300)
    if proc.returncode != 0:
        raise Refused(f"git {args[0]} failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
    return proc.stdout


def read_objects(shas: list[str]) -> dict[str, tuple[str, bytes]]:
    """sha -> (type, raw data) through one ``git cat-file --batch``."""
    out = git("cat-file", "--batch", data="".join(s + "\n" for s in shas).encode())
    objects, pos = {}, 0
    for sha in shas:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].split(b" ")
        if len(header) != 3:
            raise Refused(f"object {sha} is missing")
        size = int(header[2])
        objects[sha] = (header[1].decode(), out[nl + 1:nl + 1 + size])
        pos = nl + 1 + size + 1
    return objects


def list_tree(commit: str, limits: dict) -> tuple[list[dict], list[str]]:
    """(files, tree ids) of a commit, refusing what a version cannot hold."""
    from ..storage.paths import UnsafePath
    from .circuits import ACCEPTED_KINDS, circuit_file_path, file_kind

    proc = subprocess.Popen(["git", "ls-tree", "-r", "-t", "-l", "-z", "--full-tree", commit],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    files, trees, count, buf = [], [], 0, b""
    try:
        assert proc.stdout is not None
        while True:
            chunk = proc.stdout.read(65536)
            if not chunk:
                break
            buf += chunk
            *records, buf = buf.split(b"\0")
            for record in records:
                count += 1
                if count > limits["max_entries"]:
                    raise Refused(f"commit {commit[:12]} has more than {limits['max_entries']} files and folders")
                meta, _, raw_path = record.partition(b"\t")
                mode, kind, sha, size = meta.split()
                try:
                    path = raw_path.decode("utf-8")
                except UnicodeDecodeError:
                    raise Refused(f"commit {commit[:12]}: file name {raw_path[:80]!r} is not UTF-8") from None
                if mode == b"120000":
                    raise Refused(f"commit {commit[:12]}: '{path}' is a symbolic link; only regular files are accepted")
                if mode == b"160000" or kind == b"commit":
                    raise Refused(f"commit {commit[:12]}: '{path}' is a submodule; submodules are not accepted")
                if kind == b"tree":
                    trees.append(sha.decode())
                    continue
                if mode not in (b"100644", b"100755"):
                    raise Refused(f"commit {commit[:12]}: '{path}' has an unsupported mode {mode.decode()}")
                try:
                    if circuit_file_path(path) != path:
                        raise UnsafePath(f"invalid file name {path[:80]!r}: not in normal form (NFC)")
                except UnsafePath as exc:
                    raise Refused(f"commit {commit[:12]}: {exc.detail}") from None
                if file_kind(path) is None:
                    raise Refused(f"commit {commit[:12]}: '{path}': file type not accepted; accepted: {ACCEPTED_KINDS}")
                if int(size) > limits["max_file_bytes"]:
                    raise Refused(f"commit {commit[:12]}: file '{path}' exceeds the limit of {limits['max_file_bytes']} bytes")
                files.append({"path": path, "mode": mode.decode(), "sha1": sha.decode(), "size": int(size)})
    finally:
        proc.kill()
        proc.wait()
    return files, trees


def check(lines: list[str], limits: dict, work: Path) -> dict:
    from ..errors import ApiError
    from .git_objects import encode_objects
    from .manifest import MANIFEST_NAME, METADATA_NAME, parse_manifest

    updates = [line.split() for line in lines if line.strip()]
    if len(updates) != 1 or updates[0][2] != REF:
        raise Refused(f"only {REF} can be pushed (one branch: main)")
    old, new, _ = updates[0]
    if new == ZERO:
        raise Refused("deleting main is not allowed")
    head = limits["head"] or ZERO
    if old != head:
        raise Refused("main has moved on the server; fetch and rebase first")
    spec = [new] if old == ZERO else [new, f"^{old}"]
    listed = git("rev-list", "--reverse", "--topo-order", "--parents", f"--max-count={limits['max_commits'] + 1}",
                 *spec).decode().split("\n")
    chain = [line.split() for line in listed if line.strip()]
    if len(chain) > limits["max_commits"]:
        raise Refused(f"a push may add at most {limits['max_commits']} commits")
    if not chain:
        raise Refused("nothing new to push")
    merge = next((c[0] for c in chain if len(c) > 2), None)
    if merge is not None:
        raise Refused(f"commit {merge[:12]} is a merge; only linear history can be pushed")
    expected_parent = None if old == ZERO else old
    raw = read_objects([c[0] for c in chain])
    commits, previous, charge, blobs_needed = [], dict(limits["head_files"]), 0, {}
    known = set(limits["head_files"].values())
    for entry in chain:
        sha, parents = entry[0], entry[1:]
        if (parents[0] if parents else None) != expected_parent:
            raise Refused(f"commit {sha[:12]} does not follow the published history (rewriting it is not allowed)")
        files, trees = list_tree(sha, limits)
        if not files:
            raise Refused(f"commit {sha[:12]} has no files; a version needs at least one")
        paths = {f["path"] for f in files}
        if MANIFEST_NAME in paths:
            if METADATA_NAME in paths:
                raise Refused(f"commit {sha[:12]}: {METADATA_NAME} is generated from {MANIFEST_NAME}; do not commit it")
            manifest_sha = next(f["sha1"] for f in files if f["path"] == MANIFEST_NAME)
            try:
                parse_manifest(read_objects([manifest_sha])[manifest_sha][1], tree_paths=paths)
            except ApiError as exc:
                raise Refused(f"commit {sha[:12]}: {exc.detail}") from None
        current = {f["path"]: f["sha1"] for f in files}
        charge += sum(f["size"] for f in files if previous.get(f["path"]) != f["sha1"])
        for f in files:
            if f["sha1"] not in known:
                blobs_needed[f["sha1"]] = f["size"]
        tree_objects = read_objects(trees + [raw[sha][1].split(b"\n", 1)[0].split()[1].decode()])
        objects = [("commit", raw[sha][1])] + [("tree", d) for _, (k, d) in tree_objects.items()]
        (work / "objects").mkdir(exist_ok=True)
        (work / "objects" / sha).write_bytes(encode_objects(objects))
        message = raw[sha][1].split(b"\n\n", 1)[1] if b"\n\n" in raw[sha][1] else b""
        commits.append({"sha": sha, "files": files, "message": message.decode("utf-8", errors="replace").strip()})
        previous, expected_parent = current, sha
    if charge > limits["quota_remaining"]:
        raise Refused(f"storage quota exceeded ({charge - limits['quota_remaining']} more bytes needed)")
    blob_dir = work / "blobs"
    blob_dir.mkdir(exist_ok=True)
    for sha1 in blobs_needed:
        with open(blob_dir / sha1, "wb") as fh:
            subprocess.run(["git", "cat-file", "blob", sha1], stdout=fh, check=True, timeout=300)
    return {"old": None if old == ZERO else old, "new": new, "commits": commits}


def main() -> int:
    work = Path(os.environ["QH_PUSH_WORK"])
    limits = json.loads((work / "limits.json").read_text())
    try:
        plan = check(sys.stdin.read().splitlines(), limits, work)
    except Refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # never a traceback on the client's terminal
        print(f"refused: the push could not be checked ({type(exc).__name__})", file=sys.stderr)
        return 1
    tmp = work / "plan.json.tmp"
    tmp.write_text(json.dumps(plan))
    tmp.rename(work / "plan.json")
    verdict = work / "verdict"
    deadline = time.monotonic() + limits["verdict_timeout"]
    while not verdict.exists():
        if time.monotonic() > deadline or not work.exists():  # the push was cut off
            print("refused: the server did not store the push in time", file=sys.stderr)
            return 1
        time.sleep(0.02)
    answer = verdict.read_text()
    if answer != "ok":
        print(f"refused: {answer}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
