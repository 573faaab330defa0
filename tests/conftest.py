"""Fixtures shared by every test module."""

import os
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

# Learned vocabularies are cached by content (keras_clx/models/vocabulary_cache.py): the
# suite shares one cache inside pytest's own cache directory, not the user's.
os.environ.setdefault("CLX_CACHE_DIR", str(REPO_ROOT / ".pytest_cache" / "keras_clx"))


ONE_BACKEND = "torch"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"one_backend: backend-neutral behaviour with a costly set-up; runs in the {ONE_BACKEND} pass only"
    )


def pytest_collection_modifyitems(config, items):
    """`one_backend` tests (files, CLI errors, study bookkeeping: the same on every backend) run once,
    in the KERAS_BACKEND=torch pass; the other passes list them as skipped with this reason."""
    if os.environ.get("KERAS_BACKEND", "tensorflow") == ONE_BACKEND:
        return
    skip = pytest.mark.skip(reason=f"backend-neutral: runs in the KERAS_BACKEND={ONE_BACKEND} pass")
    for item in items:
        if "one_backend" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def shared_data():
    """The real data directory: `$CLX_DATA_DIR`, else `../shared/data` beside the repository."""
    if os.environ.get("CLX_DATA_DIR"):
        return pathlib.Path(os.environ["CLX_DATA_DIR"])
    fallback = REPO_ROOT.parent / "shared" / "data"
    if fallback.is_dir():
        return fallback
    if os.environ.get("CI"):
        pytest.fail("CI must set CLX_DATA_DIR to the shared data directory")
    pytest.skip("no shared data: set CLX_DATA_DIR")


@pytest.fixture
def tiny_recipe():
    """A demo recipe small enough to train in seconds (callable: extra overrides)."""
    from tests.helpers import tiny_demo_recipe

    return tiny_demo_recipe
