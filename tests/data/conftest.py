"""Shared fixtures for the data tests: the real data directory and a local HTTP server."""

import functools
import http.server
import os
import pathlib
import threading

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def shared_data():
    """The real data directory: `$CLX_DATA_DIR`, else `../shared/data` beside the repository."""
    if os.environ.get("CLX_DATA_DIR"):
        return pathlib.Path(os.environ["CLX_DATA_DIR"])
    fallback = REPO_ROOT.parent / "shared" / "data"
    if fallback.is_dir():
        return fallback
    pytest.skip("no shared data: set CLX_DATA_DIR")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def http_server(tmp_path):
    """Serves `tmp_path / "www"` on 127.0.0.1; yields `(base_url, folder)`."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
