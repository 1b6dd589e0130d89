import pytest

from tests.conftest import make_settings


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, runs={"workers": 1, "compile_timeout_seconds": 30})
