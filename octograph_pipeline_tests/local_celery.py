"""Dagster's distributed executor for the tests and `make bench`: Debian's redis-server as a private Celery broker,
and Dagster Celery workers started as a deployment starts them on each machine."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from octograph_pipeline.dev.influxd import free_port

from .processes import started

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


@contextlib.contextmanager
def local_redis(directory: Path) -> Iterator[str]:
    """Debian's redis-server (installed by scripts/ensure-debian-package.sh when missing), private: loopback, a
    free port, no persistence; yields its URL as a Celery broker."""
    ensure = REPO / "scripts" / "ensure-debian-package.sh"
    subprocess.run([ensure, "redis-server", "redis-server", "Redis, the Celery broker"], check=True, timeout=900)
    port = free_port()
    command = ["redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no"]
    with started(command, cwd=directory, stdout=subprocess.DEVNULL) as process:
        for _ in range(200):
            ping = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True)
            if ping.stdout.strip() == "PONG":
                break
            assert process.poll() is None, "redis-server exited"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"


@dataclass(frozen=True)
class Worker:
    pid: int
    log: Path


@contextlib.contextmanager
def celery_workers(
    directory: Path, env: dict, broker: str, count: int, concurrency: int = 1
) -> Iterator[list[Worker]]:
    """`count` workers (`dagster-celery worker start`) on this broker, with `env` (DAGSTER_HOME, OCTOGRAPH_CONFIG
    and the keys, as the webserver has them); their config and logs in `directory`."""
    # Each worker opens the instance as it starts, as does the webserver: on a new DAGSTER_HOME they would create
    # its storage at the same moment (Alembic then finds two heads). Created once here, first.
    opened = "import dagster; dagster.DagsterInstance.get().dispose()"
    subprocess.run([sys.executable, "-c", opened], env=env, check=True, timeout=120)
    worker_yaml = directory / "celery.yaml"
    worker_yaml.write_text(f"execution:\n  config:\n    broker: {broker}\n    backend: {broker}\n")
    env = {**env, "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"}  # it runs `celery` from PATH
    with contextlib.ExitStack() as stack:
        workers = []
        for index in range(1, count + 1):
            command = [
                VENV_BIN / "dagster-celery", "worker", "start", "-A", "dagster_celery.app", "-y", worker_yaml,
                "-n", f"worker{index}@%h", "--", f"--concurrency={concurrency}",
            ]  # fmt: skip
            log = directory / f"worker{index}.log"
            output = stack.enter_context(log.open("w"))
            process = stack.enter_context(started(command, env=env, stdout=output, stderr=subprocess.STDOUT))
            workers.append(Worker(process.pid, log))
        yield workers
