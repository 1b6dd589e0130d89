import pytest

pytest.importorskip("distributed", reason="the [dask] extra is not installed")

from tests.conftest import make_settings  # noqa: E402
from tests.dask_cluster.cluster import DaskCluster  # noqa: E402


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory):
    """A scheduler and 2 single-threaded worker processes, shared by the tests here."""
    cluster = DaskCluster(tmp_path_factory.mktemp("dask"), workers=2, nthreads=1)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


@pytest.fixture
def settings(tmp_path, dask_cluster):
    return make_settings(tmp_path, runs={"workers": 2, "executor": "dask", "dask_scheduler": dask_cluster.address,
                                         "compile_timeout_seconds": 60})
