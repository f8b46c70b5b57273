"""The compose stack, the image and the Dagster instance variants: validated with the real tools that exist
here (no Docker engine runs on these machines, so the image is not built; its commands are run directly)."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dagster._core.instance.ref import InstanceRef

from octograph_pipeline.influx.local import free_port

from .conftest import skip_unless_ci

REPO = Path(__file__).resolve().parent.parent
COMPOSE_SERVICES = {"influxdb", "grafana", "postgres", "code-location", "dagster-webserver", "dagster-daemon"}


def compose_command() -> list[str]:
    """`docker compose` where the plugin exists, else Debian's docker-compose (installed here when missing)."""
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    ensure = REPO / "scripts" / "ensure-debian-package.sh"
    done = subprocess.run(
        [str(ensure), "docker-compose", "docker-compose", "compose file validation"], timeout=900
    )
    if done.returncode != 0:
        skip_unless_ci("neither `docker compose` nor docker-compose is available, and it cannot be installed here")
    return ["docker-compose"]


@pytest.fixture(scope="module")
def compose_config() -> dict:
    """`docker compose config` with the committed .env.example: validates the file, returns it resolved."""
    done = subprocess.run(
        [*compose_command(), "--env-file", ".env.example", "-f", "docker-compose.yml", "config"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_compose_stack_has_every_service(compose_config):
    services = compose_config["services"]
    assert set(services) == COMPOSE_SERVICES
    assert services["influxdb"]["image"] == "influxdb:2.7"
    assert services["grafana"]["image"].startswith("grafana/grafana:12.")
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["code-location"]["build"]["context"] in (str(REPO), ".")
    for name in ("code-location", "dagster-webserver", "dagster-daemon"):
        assert services[name]["image"] == "octograph-pipeline:dev"
    assert compose_config["networks"]["default"]["name"] == "octograph"  # the seed's `--network octograph`


def test_compose_secrets_come_from_the_env_file(compose_config):
    example = dict(
        line.split("=", 1) for line in (REPO / ".env.example").read_text().splitlines() if line and line[0] != "#"
    )
    services = compose_config["services"]
    env = services["code-location"]["environment"]
    assert env["OCTOGRAPH_OCTOPUS_API_KEY"] == example["OCTOGRAPH_OCTOPUS_API_KEY"]
    assert env["OCTOGRAPH_INFLUXDB_TOKEN"] == example["OCTOGRAPH_INFLUXDB_TOKEN"]
    assert (
        services["influxdb"]["environment"]["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
        == example["OCTOGRAPH_INFLUXDB_TOKEN"]
    )
    assert services["grafana"]["environment"]["OCTOGRAPH_INFLUXDB_TOKEN"] == example["OCTOGRAPH_INFLUXDB_TOKEN"]
    # No secret is written in the compose file itself, and a real .env is never committed.
    text = (REPO / "docker-compose.yml").read_text()
    assert "sk_live" not in text and example["OCTOGRAPH_INFLUXDB_TOKEN"] not in text
    tracked = subprocess.run(["git", "ls-files", ".env"], cwd=REPO, capture_output=True, text=True).stdout
    assert tracked.strip() == ""


def test_grafana_and_influxdb_provisioning():
    datasource = yaml.safe_load((REPO / "grafana/provisioning/datasources/influxdb.yaml").read_text())[
        "datasources"
    ][0]
    assert (datasource["uid"], datasource["type"], datasource["url"]) == (
        "influxdb",
        "influxdb",
        "http://influxdb:8086",
    )
    assert datasource["jsonData"]["dbName"] == "primary"  # InfluxQL through the DBRP mapping
    assert datasource["secureJsonData"]["httpHeaderValue1"] == "Token ${OCTOGRAPH_INFLUXDB_TOKEN}"
    script = REPO / "deploy/influxdb-init/dbrp.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert "influx v1 dbrp create" in script.read_text() and os.access(script, os.X_OK)


def test_compose_dagster_instance_uses_postgres_queued_runs_and_the_pool(monkeypatch):
    for name in ("DAGSTER_POSTGRES_DB", "DAGSTER_POSTGRES_USER", "DAGSTER_POSTGRES_PASSWORD"):
        monkeypatch.setenv(name, "x")
    ref = InstanceRef.from_dir(str(REPO / "deploy"))  # validates dagster.yaml against Dagster's schema
    assert ref.run_storage_data.class_name == "PostgresRunStorage"
    assert ref.event_storage_data.class_name == "PooledPostgresEventLogStorage"
    assert ref.schedule_storage_data.class_name == "PostgresScheduleStorage"
    assert ref.run_coordinator_data.class_name == "QueuedRunCoordinator"
    assert ref.settings["concurrency"]["pools"]["default_limit"] == 1
    local = InstanceRef.from_dir(str(REPO))  # the sqlite one `make ui` uses
    assert local.run_storage_data.class_name == "SqliteRunStorage"
    assert local.run_coordinator_data.class_name == "QueuedRunCoordinator"


def dockerfile_instruction(name: str) -> list[str]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.split(None, 1)[1].strip() for line in text.splitlines() if line.startswith(name + " ")]


def test_dockerfile_is_slim_locked_non_root_and_versioned():
    assert dockerfile_instruction("FROM") == ["python:3.11-slim"]
    assert "VERSION=dev" in dockerfile_instruction("ARG")
    assert any("uv sync --frozen --no-dev" in run for run in dockerfile_instruction("RUN"))
    assert dockerfile_instruction("USER") == ["octograph"]
    assert dockerfile_instruction("HEALTHCHECK")


@pytest.mark.integration
def test_the_image_commands_serve_the_code_location(config_file):
    """The image's CMD and HEALTHCHECK, run here as they would run in the container."""
    command = yaml.safe_load(dockerfile_instruction("CMD")[0])
    health = yaml.safe_load(re.sub(r"^.*CMD\s+", "", dockerfile_instruction("HEALTHCHECK")[0]))
    port = str(free_port())
    venv_bin = Path(sys.executable).parent
    serve = [str(venv_bin / command[0]), *command[1:]]
    serve[serve.index("0.0.0.0")] = "127.0.0.1"
    serve[serve.index("4000")] = port
    check = [str(venv_bin / health[0]), *health[1:]]
    check[check.index("4000")] = port
    env = {**os.environ, "OCTOGRAPH_CONFIG": str(config_file)}
    server = subprocess.Popen(
        serve, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 90
        while subprocess.run(check, env=env, capture_output=True, timeout=60).returncode != 0:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, f"{shlex.join(check)} never succeeded"
            time.sleep(1)
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.integration
def test_the_compose_instance_runs_the_pipeline_on_postgres(postgres, config_file, influx, monkeypatch, tmp_path):
    """deploy/dagster.yaml exactly as the compose stack uses it (copied into DAGSTER_HOME, as the image does),
    on a real PostgreSQL server."""
    import dagster as dg

    from .conftest import materialize_days

    for name, value in postgres.items():
        monkeypatch.setenv(name, value)
    shutil.copyfile(REPO / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PooledPostgresEventLogStorage"
        run = materialize_days(config_file, "2024-06-12", instance=instance)
        assert run.success
        assert {r.run_id for r in instance.get_runs()} == set(run.run_ids)
        assert instance.get_materialized_partitions(dg.AssetKey("priced_consumption")) == {"2024-06-12"}
