"""A private InfluxDB 1.x server (Debian's `influxd`) on loopback, for the demo and the tests.

python -m octograph_pipeline.dev.influxd start --dir .local/influxdb --port 18086
python -m octograph_pipeline.dev.influxd stop --dir .local/influxdb
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

INSTALL_HINT = "influxd not found: install InfluxDB 1.x, e.g. `sudo apt-get install influxdb` (Debian/Ubuntu)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalInfluxd:
    """Starts `influxd` with its own config and data under `data_dir`, bound to 127.0.0.1 only."""

    def __init__(self, data_dir: str | os.PathLike, port: int | None = None):
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.pid_file = self.data_dir / "influxd.pid"

    def _config(self) -> str:
        # The RPC (backup) port must not collide with a system influxd either.
        return f"""
reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{self.data_dir}/meta"
[data]
  dir = "{self.data_dir}/data"
  wal-dir = "{self.data_dir}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
[monitor]
  store-enabled = false
[logging]
  level = "warn"
"""

    def running(self) -> bool:
        """Whether this data dir's own influxd answers on the port: its recorded process is alive and was started
        with this dir's config. Another InfluxDB on the port is not ours, and must never be written to."""
        try:
            pid = int(self.pid_file.read_text())
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return False
        return str(self.data_dir / "influxdb.conf").encode() in command and self._answers()

    def _answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/ping", timeout=1).status_code == 204
        except requests.RequestException:
            return False

    def start(self, timeout: float = 30.0) -> LocalInfluxd:
        influxd = shutil.which("influxd") or ("/usr/bin/influxd" if Path("/usr/bin/influxd").exists() else None)
        if influxd is None:
            raise RuntimeError(INSTALL_HINT)
        if self.running():
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "influxdb.conf"
        config.write_text(self._config())
        log = open(self.data_dir / "influxd.log", "ab")  # noqa: SIM115 - handed to the child process
        process = subprocess.Popen(
            [influxd, "run", "-config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while not self.running():
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = (self.data_dir / "influxd.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"influxd did not answer /ping on {self.url}; its log ends:\n{tail}")
            time.sleep(0.1)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        if not self.pid_file.exists():
            return
        pid = int(self.pid_file.read_text())
        self.pid_file.unlink()
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
                # Reap our own child if it is one; otherwise just wait for it to go.
                os.waitpid(pid, os.WNOHANG)
            except (ProcessLookupError, ChildProcessError):
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m octograph_pipeline.dev.influxd", description=__doc__)
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("--dir", default=".local/influxdb", help="data directory (default: %(default)s)")
    parser.add_argument("--port", type=int, default=18086, help="HTTP port on 127.0.0.1 (default: %(default)s)")
    args = parser.parse_args(argv)
    server = LocalInfluxd(args.dir, args.port)
    if args.action == "start":
        try:
            server.start()
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"InfluxDB 1.x on {server.url} (data in {server.data_dir})")
    elif args.action == "stop":
        server.stop()
    else:
        print("running" if server.running() else "stopped")
        return 0 if server.running() else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
