"""A private PostgreSQL server for the compose instance (deploy/dagster.yaml), started the same way by the tests
and by `make bench`: Debian's package (installed when missing, as root), a fresh cluster in a temp dir, loopback
only, trust authentication, stopped and removed on exit, errors included. PostgreSQL refuses to run as root, so
as root it runs as the `postgres` user."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be installed or started on this machine (the message says why)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def local_postgres() -> Iterator[dict[str, str]]:
    """Yields the DAGSTER_POSTGRES_* variables deploy/dagster.yaml reads, for a new, empty `dagster` database."""
    root = os.geteuid() == 0
    if not root and not shutil.which("postgres") and not list(Path("/usr/lib/postgresql").glob("*/bin/postgres")):
        raise PostgresUnavailable("PostgreSQL is not installed, and installing it needs root")
    ensure = [str(REPO / "scripts" / "ensure-debian-package.sh"), "pg_ctlcluster", "postgresql", "PostgreSQL"]
    if subprocess.run(ensure, timeout=900).returncode:
        raise PostgresUnavailable("Debian's postgresql package is missing and could not be installed")
    bin_dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not bin_dirs:
        raise PostgresUnavailable("no PostgreSQL server under /usr/lib/postgresql/*/bin")
    bin_dir, as_postgres = bin_dirs[-1], ["runuser", "-u", "postgres", "--"] if root else []
    # Not under pytest's temp folder: its parents are private to root, and the postgres user must reach it.
    data = Path(tempfile.mkdtemp(prefix="octograph-postgres-"))
    server = None
    try:
        if root:
            shutil.chown(data, "postgres")
        initdb = [*as_postgres, str(bin_dir / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "dagster"]
        done = subprocess.run(initdb, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise PostgresUnavailable(f"PostgreSQL initdb failed: {done.stderr[-2000:]}")
        port, log = str(_free_port()), data / "postgres.log"  # a file, not a pipe nobody reads while it runs
        with open(log, "wb") as log_file:
            server = subprocess.Popen(
                [*as_postgres, str(bin_dir / "postgres"), "-D", str(data / "db"), "-h", "127.0.0.1", "-p", port]
                + ["-k", str(data)],
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        ready = [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", port]
        while subprocess.run(ready, capture_output=True).returncode:
            if server.poll() is not None or time.monotonic() > deadline:
                raise PostgresUnavailable(f"PostgreSQL did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        createdb = [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", port, "-U", "dagster", "dagster"]
        subprocess.run(createdb, check=True, timeout=60)
        yield {
            "DAGSTER_POSTGRES_HOST": "127.0.0.1",
            "DAGSTER_POSTGRES_PORT": port,
            "DAGSTER_POSTGRES_DB": "dagster",
            "DAGSTER_POSTGRES_USER": "dagster",
            "DAGSTER_POSTGRES_PASSWORD": "unused-with-trust",
        }
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, 15)  # its own session: runuser and the postgres it started
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, 9)
                server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)
