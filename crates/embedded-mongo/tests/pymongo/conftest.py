"""Fixtures for the pymongo suite: a real `embedded-mongo` server process per test session.

The binary comes from the `EMBEDDED_MONGO_BIN` environment variable; it is started on a free
loopback port with a temporary data directory and killed when the session ends.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
from pymongo import MongoClient

# Keep the test modules from leaving __pycache__ directories in the source tree.
sys.dont_write_bytecode = True


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_accepting(process, port, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"embedded-mongo exited early with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"embedded-mongo did not accept connections on port {port} within {timeout}s")


class Server:
    """A running server process and how to reach it."""

    def __init__(self, process, port, data_dir):
        self.process = process
        self.port = port
        self.data_dir = data_dir

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def uri(self, **options):
        query = "&".join(f"{key}={value}" for key, value in {"directConnection": "true", **options}.items())
        return f"mongodb://{self.address}/?{query}"

    def client(self, uri=None, **kwargs):
        kwargs.setdefault("serverSelectionTimeoutMS", 10000)
        return MongoClient(uri or self.uri(), **kwargs)


def _running_server(*extra_arguments):
    binary = os.environ.get("EMBEDDED_MONGO_BIN")
    if not binary:
        raise RuntimeError("set EMBEDDED_MONGO_BIN to the path of the embedded-mongo binary")
    with tempfile.TemporaryDirectory(prefix="embedded-mongo-pymongo-") as data_dir:
        port = _free_port()
        log = open(os.path.join(data_dir, "server.log"), "wb")
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--data-dir", os.path.join(data_dir, "data"),
             *extra_arguments],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            _wait_until_accepting(process, port)
            yield Server(process, port, data_dir)
        finally:
            process.kill()
            process.wait(timeout=10)
            log.close()


@pytest.fixture(scope="session")
def server():
    yield from _running_server()


@pytest.fixture(scope="session")
def test_commands_server():
    """A second server started with --enable-test-commands (fail points), as mongod's test
    suites start theirs."""
    yield from _running_server("--enable-test-commands")


@pytest.fixture(scope="session")
def client(server):
    connection = server.client()
    yield connection
    connection.close()


@pytest.fixture
def db(client):
    """A fresh database per test, dropped afterwards."""
    name = f"pytest_{uuid.uuid4().hex[:12]}"
    database = client[name]
    yield database
    client.drop_database(name)
