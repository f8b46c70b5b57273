"""Run an `OctopusSimulator` in a background uvicorn thread, for tests and the demo."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from octograph_pipeline.dev.simulator.app import OctopusSimulator


@contextmanager
def serve(
    sim: OctopusSimulator, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 10.0
) -> Iterator[str]:
    """Serve `sim` until the block exits; yields the API prefix URL, e.g. `http://127.0.0.1:PORT/v1`.

    Port 0 picks a free port, so parallel tests never collide.
    """
    config = uvicorn.Config(sim.app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="octopus-simulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"Octopus simulator failed to start on {host}:{port}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"Octopus simulator did not start within {startup_timeout}s")
        time.sleep(0.005)
    try:
        bound_port = server.servers[0].sockets[0].getsockname()[1]
        url_host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        if ":" in url_host:
            url_host = f"[{url_host}]"
        yield f"http://{url_host}:{bound_port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
