"""``doctor`` with ``[runs] executor = "dask"``: it describes the Dask executor (the scheduler,
reached for real, and its workers), not the local simulator workers, and never shows
credentials in the scheduler address."""

from __future__ import annotations

from qubithub_lite.doctor import address_without_credentials, probe_dask
from tests.dask_cluster.cluster import free_port
from tests.foundation.test_backup import cli


def _doctor(tmp_path, scheduler: str) -> str:
    env = {"QUBITHUB_LITE_RUNS_EXECUTOR": "dask", "QUBITHUB_LITE_RUNS_DASK_SCHEDULER": scheduler}
    result = cli("doctor", "--data-dir", str(tmp_path / "data"), env=env, ok=False)
    return result.stdout + result.stderr


def test_doctor_describes_a_reachable_dask_cluster(tmp_path, dask_cluster):
    out = _doctor(tmp_path, dask_cluster.address)
    line = next(l for l in out.splitlines() if "simulator executor" in l)
    assert f'executor = "dask" at {dask_cluster.address}: reachable, 2 worker(s)' in line, out
    assert "simulator workers" not in out  # the local workers are not what runs simulations here


def test_doctor_says_an_unreachable_scheduler_is_unreachable_and_shows_no_password(tmp_path):
    port = free_port()  # nothing listens there
    out = _doctor(tmp_path, f"tcp://ops:s3cret-pw@127.0.0.1:{port}")
    line = next(l for l in out.splitlines() if "simulator executor" in l)
    assert f"at tcp://127.0.0.1:{port}: UNREACHABLE" in line, out
    assert "s3cret" not in out


async def test_probe_dask_bounds_its_wait_and_scrubs_the_error():
    ok, text = await probe_dask(f"tcp://ops:s3cret-pw@127.0.0.1:{free_port()}?token=t0ken", timeout=2)
    assert not ok and "UNREACHABLE" in text and "s3cret" not in text and "t0ken" not in text


def test_addresses_lose_their_credentials():
    assert address_without_credentials("tls://u:p@sched.example.org:8786?x=1") == "tls://sched.example.org:8786"
    assert address_without_credentials("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
