"""The compose stack, the image and the Dagster instance variants: validated with the real tools that exist
here (no Docker engine runs on these machines, so the image is not built; its commands are run directly)."""

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.ref import InstanceRef
from dagster._core.launcher import RunLauncher
from dagster._core.run_coordinator import RunCoordinator
from dagster_docker import DockerRunLauncher
from dagster_k8s import K8sRunLauncher
from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict
from kubernetes.client import V1EnvVar, V1SecretEnvSource, V1Volume, V1VolumeMount

from octograph_pipeline.dev.influxd import free_port

from .helpers import skip_unless_ci
from .processes import Lines, describe, group_members, ignores, running, started

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


def image_commands(port: int) -> tuple[list[str], list[str]]:
    """The image's CMD (the code server, on 127.0.0.1:`port` here) and its HEALTHCHECK command, from this venv."""
    command = yaml.safe_load(dockerfile_instruction("CMD")[0])
    health = yaml.safe_load(re.sub(r"^.*CMD\s+", "", dockerfile_instruction("HEALTHCHECK")[0]))
    venv_bin = Path(sys.executable).parent
    serve = [str(venv_bin / command[0]), *command[1:]]
    serve[serve.index("0.0.0.0")] = "127.0.0.1"
    serve[serve.index("4000")] = str(port)
    check = [str(venv_bin / health[0]), *health[1:]]
    check[check.index("4000")] = str(port)
    return serve, check


def wait_until_healthy(server: subprocess.Popen, check: list[str], env: dict, log: Path) -> None:
    deadline = time.monotonic() + 90
    while subprocess.run(check, env=env, capture_output=True, timeout=60).returncode != 0:
        assert server.poll() is None, log.read_text(errors="replace")[-2000:]
        assert time.monotonic() < deadline, f"{shlex.join(check)} never succeeded"
        time.sleep(1)


@pytest.mark.integration
def test_the_image_commands_serve_the_code_location(config_file, tmp_path):
    """The image's CMD and HEALTHCHECK, run here as they would run in the container (SIGINT as a terminal or a
    container gives it; the code server and the gRPC server it starts are stopped whatever happens)."""
    serve, check = image_commands(free_port())
    env = {**os.environ, "OCTOGRAPH_CONFIG": str(config_file)}
    log = tmp_path / "code-server.log"
    with log.open("wb") as output, started(serve, env=env, stdout=output, stderr=subprocess.STDOUT) as server:
        wait_until_healthy(server, check, env, log)
    assert not group_members(server.pid)


@pytest.mark.integration
@pytest.mark.slow
def test_the_image_commands_leave_no_process_when_sigterm_is_ignored(config_file, tmp_path):
    """Under a parent that ignores SIGINT (a background job), Dagster's code server ignores SIGTERM too
    (`setup_interrupt_handlers` gives SIGTERM SIGINT's handler), and so does the gRPC server it starts: the
    tests' helper still ends the whole group, with SIGKILL once SIGTERM's grace is over."""
    serve, check = image_commands(free_port())
    env = {**os.environ, "OCTOGRAPH_CONFIG": str(config_file)}
    log = tmp_path / "code-server.log"
    with (
        log.open("wb") as output,
        started(serve, sigint=signal.SIG_IGN, grace=3, env=env, stdout=output, stderr=subprocess.STDOUT) as server,
    ):
        wait_until_healthy(server, check, env, log)
        members = group_members(server.pid)  # `dagster code-server start` and the gRPC server it started
        assert len(members) >= 2 and all(ignores(pid, signal.SIGTERM) for pid in members), describe(members)
    assert not group_members(server.pid), describe(group_members(server.pid))


@pytest.mark.integration
@pytest.mark.slow
def test_a_background_pytest_of_the_image_commands_leaves_no_process_behind(tmp_path):
    """The issue's reproduction: pytest as a background job (SIGINT ignored, inherited by what it starts) runs
    the image-command test. Afterwards no process it started is left: found by a marker in their environment,
    which every descendant inherits, whatever its process group."""
    marker = f"octograph-test-{uuid.uuid4().hex}"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:logging", "-p", "no:cacheprovider"]
    command += [f"--basetemp={tmp_path / 'inner'}", f"{__file__}::test_the_image_commands_serve_the_code_location"]
    env = {**os.environ, "OCTOGRAPH_TEST_MARKER": marker}
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    with started(command, sigint=signal.SIG_IGN, env=env, cwd=REPO, **pipes) as inner:
        out, err = inner.communicate(timeout=300)
    survivors = processes_with(marker)
    described = describe(survivors)
    for pid in survivors:  # ended here, so that a failure does not leave them running either
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not survivors, f"left running:\n{described}\n{out[-3000:]}"
    assert inner.returncode == 0 and "1 passed" in out, out[-3000:] + err[-3000:]


def test_a_stopped_leader_does_not_leave_its_children_running():
    """The tests' process helper, on a leader that exits at SIGTERM and a child that ignores it (as Dagster's
    servers do under a background job): it waits for the whole group, not the leader alone, then SIGKILLs it."""
    child = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
    child += "time.sleep(600)"
    leader = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(600)"
    with started([sys.executable, "-c", leader], grace=2, stdout=subprocess.PIPE, text=True) as process:
        Lines(process.stdout).wait_for("ready", timeout=60)
        (member,) = set(group_members(process.pid)) - {process.pid}
        assert ignores(member, signal.SIGTERM)
    assert process.returncode == -signal.SIGTERM and not running(member) and not group_members(process.pid)


def processes_with(marker: str) -> list[int]:
    """The running processes whose environment holds `marker`."""
    found = []
    for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
        with contextlib.suppress(OSError):
            if marker.encode() in Path(f"/proc/{pid}/environ").read_bytes() and running(pid):
                found.append(pid)
    return found


@pytest.mark.integration
def test_the_compose_instance_runs_the_pipeline_on_postgres(postgres, config_file, influx, monkeypatch, tmp_path):
    """deploy/dagster.yaml exactly as the compose stack uses it (copied into DAGSTER_HOME, as the image does),
    on a real PostgreSQL server."""
    import dagster as dg

    from .helpers import materialize_days

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


def test_the_docker_run_launcher_instance_is_the_compose_one_with_dagsters_docker_launcher(monkeypatch):
    """No Docker engine here: the launcher's config is validated by Dagster's own schema for it (dagster-docker),
    and everything else held equal to the compose instance's."""
    for name in ("DAGSTER_POSTGRES_DB", "DAGSTER_POSTGRES_USER", "DAGSTER_POSTGRES_PASSWORD"):
        monkeypatch.setenv(name, "x")
    home = REPO / "deploy" / "docker-run-launcher"
    docker, compose = (yaml.safe_load((path / "dagster.yaml").read_text()) for path in (home, REPO / "deploy"))
    assert {k: v for k, v in docker.items() if k != "run_launcher"} == {
        k: v for k, v in compose.items() if k != "run_launcher"
    }
    launcher = InstanceRef.from_dir(str(home)).run_launcher_data.rehydrate(RunLauncher)  # validates its config
    assert isinstance(launcher, DockerRunLauncher) and launcher.image is None  # the code location's image
    assert launcher.networks == ["octograph"]
    assert launcher.container_kwargs["volumes"] == ["/etc/octograph:/etc/octograph:ro"]
    env = yaml.safe_load((REPO / "docker-compose.yml").read_text())["x-pipeline"]["environment"]
    assert set(env) <= set(launcher.env_vars)  # what every pipeline container gets, the runs get too
    assert env["OCTOGRAPH_CONFIG"].startswith("/etc/octograph/")
    assert {"OCTOGRAPH_OCTOPUS_API_KEY", "OCTOGRAPH_INFLUXDB_TOKEN"} <= set(launcher.env_vars)


def test_the_docker_run_launcher_compose_override_is_valid_and_gives_the_daemon_the_socket():
    done = subprocess.run(
        [*compose_command(), "--env-file", ".env.example", "-f", "docker-compose.yml"]
        + ["-f", "docker-compose.run-launcher.yml", "config"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr  # compose's own schema
    services = yaml.safe_load(done.stdout)["services"]
    launcher_instance = str(REPO / "deploy/docker-run-launcher/dagster.yaml")
    for name in ("dagster-daemon", "dagster-webserver"):  # the daemon launches runs, the UI terminates them
        mounts = {
            volume.rsplit(":", 1)[0] if volume.count(":") > 1 else volume for volume in services[name]["volumes"]
        }
        assert f"{launcher_instance}:/opt/dagster/home/dagster.yaml" in mounts
        assert "/var/run/docker.sock:/var/run/docker.sock" in mounts
        assert services[name]["environment"]["OCTOGRAPH_OCTOPUS_API_KEY"]  # passed on to the runs
    image = services["code-location"]["image"]
    assert services["code-location"]["environment"]["DAGSTER_CURRENT_IMAGE"] == image == "octograph-pipeline:dev"


HELM_VALUES = REPO / "deploy" / "helm" / "values.yaml"
# Dagster's chart 1.13: its top-level values (helm/dagster/schema/.../values.py). Its model lets others through
# unnoticed (a misspelt section would be ignored), so this test refuses them.
CHART_VALUES = {
    "dagsterWebserver", "dagster-user-deployments", "postgresql", "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret", "rabbitmq", "redis", "flower", "ingress", "imagePullSecrets",
    "computeLogManager", "scheduler", "runLauncher", "pythonLogs", "dagsterDaemon", "busybox", "migrate",
    "telemetry", "serviceAccount", "global", "retention", "concurrency", "additionalInstanceConfig",
}  # fmt: skip


PULL_POLICIES = {"Always", "IfNotPresent", "Never"}  # Kubernetes' own (the chart's schema holds to them)


def chart_instance_settings(values: dict) -> dict:
    """The part of dagster.yaml Dagster's chart renders from these values: the K8s run launcher, the run
    coordinator and concurrency (its templates helpers/instance/_run-launcher.tpl, _run-coordinator.tpl and
    _concurrency.tpl, release `dagster` in namespace `dagster`)."""
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    launcher = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s.get("jobNamespace") or "dagster",
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": "dagster",
        "dagster_home": {"env": "DAGSTER_HOME"},
        "instance_config_map": {"env": "DAGSTER_K8S_INSTANCE_CONFIG_MAP"},
        "postgres_password_secret": {"env": "DAGSTER_K8S_PG_PASSWORD_SECRET"},
        "env_config_maps": [{"env": "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP"}]
        + [source["name"] for source in k8s["envConfigMaps"]],
    }
    launcher |= {"env_secrets": [source["name"] for source in k8s["envSecrets"]]} if k8s["envSecrets"] else {}
    for value, setting in (("envVars", "env_vars"), ("volumeMounts", "volume_mounts"), ("volumes", "volumes")):
        launcher |= {setting: k8s[value]} if k8s[value] else {}
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    pools, runs = values["concurrency"]["pools"], values["concurrency"]["runs"]
    return {
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": launcher},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"dequeue_interval_seconds": queued["dequeueIntervalSeconds"]},
        },
        "concurrency": {
            "pools": {"default_limit": pools["defaultLimit"], "granularity": pools["granularity"]},
            "runs": {"max_concurrent_runs": runs["maxConcurrentRuns"]},
        },
    }


def test_the_helm_values_give_dagsters_chart_a_valid_k8s_run_launcher_and_instance(tmp_path, monkeypatch):
    """No cluster here, and the chart's values.schema.json cannot be fetched (only package registries are
    reachable): the values are checked where they reach Dagster, the instance settings the chart renders from
    them validated by Dagster's own schemas (dagster-k8s's for the launcher)."""
    values = yaml.safe_load(HELM_VALUES.read_text())
    assert set(values) <= CHART_VALUES
    settings = chart_instance_settings(values)
    for name in ("DAGSTER_HOME", "DAGSTER_K8S_INSTANCE_CONFIG_MAP", "DAGSTER_K8S_PG_PASSWORD_SECRET"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP", "x")
    launcher = settings["run_launcher"]["config"]
    checked = process_config(K8sRunLauncher.config_type(), launcher)
    assert checked.success, [error.message for error in checked.errors]
    (tmp_path / "dagster.yaml").write_text(
        yaml.safe_dump({k: v for k, v in settings.items() if k != "run_launcher"})
    )
    ref = InstanceRef.from_dir(str(tmp_path))  # Dagster's instance schema: concurrency
    coordinator = ref.run_coordinator_data.rehydrate(RunCoordinator)  # and the run coordinator's own
    assert coordinator.dequeue_interval_seconds == 1
    assert launcher["image_pull_policy"] in PULL_POLICIES
    # Run granularity: the chart's storage is Dagster's own PostgresEventLogStorage, whose step-level slot
    # claims race (instance._PoolsWithoutRaces); the run queue holds a household's next run instead.
    assert ref.settings["concurrency"]["pools"] == {"default_limit": 1, "granularity": "run"}


def test_the_helm_user_deployment_serves_the_images_code_location_with_its_secrets_and_config():
    """The pod parts are Kubernetes objects, checked by the Kubernetes client's models as Dagster's K8s launcher
    checks a run's (dagster_k8s.models)."""
    (deployment,) = yaml.safe_load(HELM_VALUES.read_text())["dagster-user-deployments"]["deployments"]
    command = yaml.safe_load(dockerfile_instruction("CMD")[0])
    assert deployment["codeServerArgs"] == command[command.index("-m") :]
    assert str(deployment["port"]) == dockerfile_instruction("EXPOSE")[0]
    assert deployment["image"]["repository"] == "octograph-pipeline"
    assert deployment["image"]["pullPolicy"] in PULL_POLICIES
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}  # the runs get the same
    for model, items in (
        (V1EnvVar, deployment["env"]),
        (V1SecretEnvSource, deployment["envSecrets"]),
        (V1Volume, deployment["volumes"]),
        (V1VolumeMount, deployment["volumeMounts"]),
    ):
        for item in items:
            k8s_model_from_dict(model, k8s_snake_case_dict(model, item))
    env = {item["name"]: item["value"] for item in deployment["env"]}
    (mount,) = deployment["volumeMounts"]
    assert Path(env["OCTOGRAPH_CONFIG"]).parent == Path(mount["mountPath"])
    assert deployment["envSecrets"] == [{"name": "octograph-secrets"}]  # keys never in the values
    assert "sk_live" not in HELM_VALUES.read_text().replace("sk_live_…", "")
