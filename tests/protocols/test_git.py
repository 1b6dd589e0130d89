"""Git smart HTTP for circuits, with the real git client against a real server."""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess

import pytest
import requests

from tests.conftest import start_server
from tests.protocols.helpers import CIRCUIT, MANIFEST, Api, git, git_env, url

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture
def server(tmp_path):
    live = start_server(tmp_path / "data", {"QUBITHUB_LITE_GIT_MAX_PUSH_COMMITS": "5",
                                            "QUBITHUB_LITE_GIT_MAX_PUSH_BYTES": str(256 * 1024),
                                            "QUBITHUB_LITE_STORAGE_MAX_FILE_BYTES": str(1024 * 1024)})
    yield live
    live.stop()


def log(env, cwd) -> list[str]:
    return git(env, "log", "--format=%H", cwd=cwd).stdout.split()


def test_clone_pull_push_and_stable_commits(server, tmp_path):
    alice = Api(server, "alice")
    c = alice.circuit("bell", {"circuit.py": CIRCUIT, "qubithub.toml": MANIFEST.format(name="bell")}, message="first")
    alice.upload(c["id"], {"notes/readme.md": "# notes\n"}, "second")
    detail = alice.detail(c["id"])
    shas = [v["git_commit"] for v in detail["versions"]]
    assert all(s and len(s) == 40 for s in shas)
    env = git_env(tmp_path / "home")

    # anonymous clone of a public circuit: one commit per version, main at the latest
    work = tmp_path / "work"
    git(env, "clone", url(server, "alice/bell"), str(work))
    assert log(env, work) == shas[::-1]
    assert git(env, "rev-parse", "--abbrev-ref", "HEAD", cwd=work).stdout.strip() == "main"
    assert (work / "circuit.py").read_text() == CIRCUIT
    assert (work / "notes" / "readme.md").read_text() == "# notes\n"
    assert not (work / "metadata.json").exists()  # generated from the manifest: not in git
    first = git(env, "log", "--reverse", "--format=%an|%ae|%s|%at", cwd=work).stdout.splitlines()[0].split("|")
    assert first[:3] == ["Alice", "alice@users.noreply.qubithub-lite", "first"]
    created = detail["versions"][0]["created_at"]
    created_at = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=dt.timezone.utc)
    assert abs(int(first[3]) - created_at.timestamp()) < 1

    # a new upload shows up with git pull
    alice.upload(c["id"], {"circuit.py": CIRCUIT + "# v3\n"}, "third")
    git(env, "pull", "-q", cwd=work)
    assert (work / "circuit.py").read_text().endswith("# v3\n")
    assert log(env, work)[0] == alice.detail(c["id"])["versions"][2]["git_commit"]

    # push: one version per commit, kept exactly as pushed
    key = alice.api_key("circuit:read", "circuit:write")
    git(env, "remote", "set-url", "origin", url(server, "alice/bell", key), cwd=work)
    (work / "circuit.py").write_text(CIRCUIT + "# v4\n")
    (work / ".gitignore").write_text("__pycache__/\n")
    git(env, "add", "-A", cwd=work)
    git(env, "commit", "-qm", "fourth, from git", cwd=work)
    os.remove(work / "notes" / "readme.md")
    git(env, "commit", "-qam", "fifth: drop the notes", cwd=work)
    git(env, "push", "-q", "origin", "main", cwd=work)
    pushed = log(env, work)[:2][::-1]
    versions = alice.detail(c["id"])["versions"]
    assert [v["version_number"] for v in versions] == [1, 2, 3, 4, 5]
    assert [v["git_commit"] for v in versions[3:]] == pushed
    assert [v["commit_message"] for v in versions[3:]] == ["fourth, from git", "fifth: drop the notes"]
    files = alice.get(f"/circuits/{c['id']}/files", params={"ref": pushed[0]}).json()
    assert files["version_number"] == 4
    names = {f["name"] for f in files["files"]}
    assert {".gitignore", "circuit.py", "qubithub.toml", "metadata.json", "notes/readme.md"} == names
    fifth = alice.get(f"/circuits/{c['id']}/files", params={"ref": pushed[1][:10]}).json()
    assert fifth["version_number"] == 5 and "notes/readme.md" not in {f["name"] for f in fifth["files"]}
    assert alice.get(f"/circuits/{c['id']}/files", params={"ref": "0" * 40}).status_code == 404
    raw = requests.get(f"{server.url}/files/{versions[3]['file_path']}")
    assert raw.status_code == 200 and raw.text.endswith("# v4\n")

    # a fork has the same history
    bob = Api(server, "bob")
    assert bob.post(f"/circuits/{c['id']}/fork", json={}).status_code == 201
    forked = tmp_path / "forked"
    git(env, "clone", "-q", url(server, "bob/bell"), str(forked))
    assert log(env, forked) == log(env, work)

    # the cache is derived data: delete it, restart, and clone the very same commits
    all_shas = [v["git_commit"] for v in versions]
    server.stop()
    shutil.rmtree(server.data_dir / "git-cache")
    again = start_server(server.data_dir)
    try:
        fresh = tmp_path / "fresh"
        git(env, "clone", url(again, "alice/bell"), str(fresh))
        assert log(env, fresh) == all_shas[::-1]
        assert git(env, "fsck", "--strict", cwd=fresh).returncode == 0
        assert (fresh / ".gitignore").read_text() == "__pycache__/\n"
    finally:
        again.stop()


def _probe(server, repo, service="git-upload-pack", auth=None):
    return requests.get(f"{server.url}/{repo}.git/info/refs", params={"service": service}, auth=auth)


def test_private_circuits_and_the_same_challenge_for_everything_hidden(server, tmp_path):
    alice, bob = Api(server, "alice"), Api(server, "bob")
    alice.circuit("secret", {"circuit.py": CIRCUIT}, is_public=False)
    alice.circuit("open", {"circuit.py": CIRCUIT})
    env = git_env(tmp_path / "home")

    # anonymous: private, nonexistent and push all get the same 401 Basic challenge
    answers = [_probe(server, "alice/secret"), _probe(server, "alice/nothing-here"), _probe(server, "nobody/x"),
               _probe(server, "alice/open", "git-receive-pack"), _probe(server, "alice/secret", auth=("x-access-token", ""))]
    for resp in answers:
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"].startswith("Basic ")
    assert len({r.text for r in answers[:4]}) == 1
    assert requests.get(f"{server.url}/alice/secret.git/HEAD").status_code == 401
    public = _probe(server, "alice/open")
    assert public.status_code == 200
    assert public.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"
    failed = git(env, "clone", url(server, "alice/secret"), str(tmp_path / "anon"), ok=False)
    assert failed.returncode != 0 and not (tmp_path / "anon").exists()

    # with credentials: invisible is 404, scopes and write access are enforced
    assert _probe(server, "alice/secret", auth=("x-access-token", bob.token)).status_code == 404
    assert _probe(server, "alice/secret", auth=("x-access-token", "wrong")).status_code == 401
    assert _probe(server, "alice/open", "git-receive-pack", auth=("x-access-token", bob.token)).status_code == 403
    runs_only = alice.api_key("runs:read")
    assert _probe(server, "alice/secret", auth=("x-access-token", runs_only)).status_code == 403
    read_key = alice.api_key("circuit:read")
    assert _probe(server, "alice/open", "git-receive-pack", auth=("x-access-token", read_key)).status_code == 403
    git(env, "clone", url(server, "alice/secret", read_key), str(tmp_path / "with-key"))
    assert (tmp_path / "with-key" / "circuit.py").read_text() == CIRCUIT
    git(env, "clone", url(server, "alice/secret", alice.token), str(tmp_path / "with-token"))
    nope = git(env, "clone", url(server, "alice/secret", bob.token), str(tmp_path / "bob"), ok=False)
    assert nope.returncode != 0 and "not found" in nope.stderr


def _push_refused(env, work, *expect: str, ref: str = "main") -> str:
    proc = git(env, "push", "origin", f"HEAD:{ref}", cwd=work, ok=False)
    assert proc.returncode != 0, proc.stderr
    for text in expect:
        assert text in proc.stderr, proc.stderr
    return proc.stderr


def test_hostile_pushes_are_refused_and_store_nothing(server, tmp_path):
    alice = Api(server, "alice")
    c = alice.circuit("bell", {"circuit.py": CIRCUIT, "qubithub.toml": MANIFEST.format(name="bell")})
    env = git_env(tmp_path / "home")
    key = alice.api_key("circuit:read", "circuit:write")
    work = tmp_path / "work"
    git(env, "clone", "-q", url(server, "alice/bell", key), str(work))
    head = log(env, work)[0]

    def reset():
        git(env, "reset", "-q", "--hard", head, cwd=work)
        git(env, "clean", "-qfdx", cwd=work)

    def commit(message="change"):
        git(env, "add", "-A", cwd=work)
        git(env, "commit", "-qm", message, cwd=work)

    (work / "qubithub.toml").write_text('[project]\nname = "bell"\n')
    commit("bad manifest")
    _push_refused(env, work, "qubithub.toml is invalid", "pre-receive hook declined")
    reset()
    (work / "metadata.json").write_text("{}")
    commit()
    _push_refused(env, work, "metadata.json is generated")
    reset()
    (work / "picture.png").write_bytes(b"\x89PNG")
    commit()
    _push_refused(env, work, "file type not accepted")
    reset()
    os.symlink("/etc/passwd", work / "link.py")
    commit()
    _push_refused(env, work, "symbolic link")
    reset()
    git(env, "update-index", "--add", "--cacheinfo", f"160000,{head},lib", cwd=work)
    git(env, "commit", "-qm", "submodule", cwd=work)
    _push_refused(env, work, "submodule")
    reset()
    name = os.fsencode(str(work)) + b"/caf\xe9.py"
    with open(name, "wb") as fh:
        fh.write(b"x = 1\n")
    commit()
    _push_refused(env, work, "not UTF-8")
    reset()
    (work / "deep").mkdir()
    (work / "deep" / ".hidden.py").write_text("x = 1\n")
    commit()
    _push_refused(env, work, "hidden or special")
    reset()
    # a tree entry named '..' (made with git's plumbing): git's own fsck refuses the pack
    blob = git(env, "rev-parse", f"{head}:circuit.py", cwd=work).stdout.strip()
    proc = subprocess.run(["git", "mktree", "--missing"], input=f"100644 blob {blob}\t..\n", env=env, cwd=work,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    bad = git(env, "commit-tree", proc.stdout.strip(), "-p", head, "-m", "dotdot", cwd=work).stdout.strip()
    git(env, "update-ref", "refs/heads/dotdot", bad, cwd=work)
    pushed = git(env, "push", "origin", "dotdot:main", cwd=work, ok=False)
    assert pushed.returncode != 0 and "dotdot" in pushed.stderr.lower(), pushed.stderr
    reset()
    # more commits than allowed (5 in this server's settings)
    for i in range(6):
        (work / "circuit.py").write_text(CIRCUIT + f"# {i}\n")
        commit(f"c{i}")
    _push_refused(env, work, "at most 5 commits")
    reset()
    # a small pack that inflates past the file size limit (1 MiB here): refused before anything is written
    (work / "zeros.json").write_bytes(b"0" * (8 * 1024 * 1024))
    commit("zip bomb")
    _push_refused(env, work, "exceeds the limit")
    reset()
    # deeper than the path rules allow
    deep = work.joinpath(*[f"d{i}" for i in range(12)])
    deep.mkdir(parents=True)
    (deep / "x.py").write_text("x = 1\n")
    commit("deep")
    _push_refused(env, work, "nested deeper")
    reset()
    # a pack over the size limit (256 KiB here)
    (work / "big.json").write_text('"' + "".join(random.choice("abcdef0123456789") for _ in range(600_000)) + '"')
    commit("big")
    _push_refused(env, work)
    reset()
    # merges, other branches, rewriting published history
    (work / "a.py").write_text("a = 1\n")
    commit("a")
    git(env, "checkout", "-q", "-b", "side", head, cwd=work)
    (work / "b.py").write_text("b = 1\n")
    commit("b")
    git(env, "checkout", "-q", "main", cwd=work)
    git(env, "merge", "-q", "--no-edit", "side", cwd=work)
    _push_refused(env, work, "merge")
    reset()
    (work / "c.py").write_text("c = 1\n")
    commit("c")
    _push_refused(env, work, "only refs/heads/main", ref="feature")
    git(env, "commit", "-q", "--amend", "-m", "rewritten", cwd=work)
    git(env, "reset", "-q", "--soft", "HEAD~1", cwd=work)
    git(env, "commit", "-q", "--amend", "-m", "rewritten root", cwd=work)
    proc = git(env, "push", "--force", "origin", "HEAD:main", cwd=work, ok=False)
    assert proc.returncode != 0

    # nothing was stored by any of these; the circuit still clones as before
    detail = alice.detail(c["id"])
    assert [v["git_commit"] for v in detail["versions"]] == [head]
    fresh = tmp_path / "fresh"
    git(env, "clone", "-q", url(server, "alice/bell"), str(fresh))
    assert log(env, fresh) == [head]
    assert not list((server.data_dir / "git-cache" / "tmp").iterdir())


def test_first_push_to_an_empty_circuit_keeps_the_commit_exactly(server, tmp_path):
    alice = Api(server, "alice")
    resp = alice.post("/circuits", json={"name": "fresh", "title": "Fresh", "framework": "qiskit"})
    c = resp.json()
    env = git_env(tmp_path / "home")
    work = tmp_path / "work"
    git(env, "clone", "-q", url(server, "alice/fresh"), str(work))  # an empty repository
    (work / "circuit.py").write_text(CIRCUIT)
    (work / "run.py").write_text("#!/usr/bin/env python\nprint(1)\n")
    (work / "run.py").chmod(0o755)
    (work / "qubithub.toml").write_text(MANIFEST.format(name="fresh").replace('tags = ["bell"]', 'tags = ["pushed"]'))
    (work / ".gitignore").write_text("*.pyc\n")
    git(env, "add", "-A", cwd=work)
    git(env, "-c", "user.name=Ada L.", "-c", "user.email=ada@example.org", "commit", "-qm",
        "initial\n\nwith a body", "--date=2001-02-03T04:05:06+05:30", cwd=work)
    key = alice.api_key("circuit:read", "circuit:write")
    git(env, "push", "-q", url(server, "alice/fresh", key), "HEAD:main", cwd=work)
    sha = log(env, work)[0]
    detail = alice.detail(c["id"])
    assert [v["git_commit"] for v in detail["versions"]] == [sha]
    assert detail["versions"][0]["commit_message"] == "initial\n\nwith a body"
    assert detail["tags"] == ["pushed"]  # the manifest was applied, metadata.json generated
    files = {f["name"] for f in alice.get(f"/circuits/{c['id']}/files").json()["files"]}
    assert files == {"circuit.py", "run.py", "qubithub.toml", ".gitignore", "metadata.json"}
    again = tmp_path / "again"
    git(env, "clone", "-q", url(server, "alice/fresh"), str(again))
    assert log(env, again) == [sha]
    assert os.access(again / "run.py", os.X_OK)
    assert git(env, "cat-file", "-p", sha, cwd=again).stdout == git(env, "cat-file", "-p", sha, cwd=work).stdout


def test_organization_members_push_and_strangers_cannot(server, tmp_path):
    alice, bob, carol = Api(server, "alice"), Api(server, "bob"), Api(server, "carol")
    org = alice.post("/orgs", json={"name": "Quantum Lab", "slug": "qlab"})
    assert org.status_code == 201, org.text
    assert alice.post(f"/orgs/{org.json()['id']}/members", json={"email": "bob@example.org"}).status_code == 201
    resp = alice.post("/circuits", json={"name": "shared", "title": "Shared", "framework": "qiskit",
                                         "is_public": False, "organization_name": "qlab"})
    assert resp.status_code == 201, resp.text
    c = resp.json()
    alice.upload(c["id"], {"circuit.py": CIRCUIT}, "one")
    env = git_env(tmp_path / "home")
    work = tmp_path / "bob-work"
    git(env, "clone", "-q", url(server, "qlab/shared", bob.token), str(work))
    (work / "extra.py").write_text("x = 1\n")
    git(env, "add", "-A", cwd=work)
    git(env, "commit", "-qm", "bob's change", cwd=work)
    git(env, "push", "-q", "origin", "main", cwd=work)
    detail = alice.detail(c["id"])
    assert [v["commit_message"] for v in detail["versions"]] == ["one", "bob's change"]
    assert _probe(server, "qlab/shared", "git-receive-pack", auth=("x-access-token", carol.token)).status_code == 404
    assert _probe(server, "qlab/shared", auth=("x-access-token", carol.token)).status_code == 404
    assert _probe(server, "qlab/shared").status_code == 401
