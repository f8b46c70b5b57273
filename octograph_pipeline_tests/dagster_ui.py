"""What a user does in the Dagster UI, done over the same GraphQL API the UI's pages call, for tests and the
benchmark: Dagster's webserver and daemon (as `make ui` starts them) on a given DAGSTER_HOME, a backfill
launched as the "Materialize…" partitions dialog launches it, and waited for with the timings of its runs.

The mutations and their variables are copied from dagster-webserver's own UI (ui-core, in the source maps
shipped with dagster_webserver/webapp/build): LaunchAssetChoosePartitionsDialog.tsx, BackfillUtils.tsx
and usePartitionHealthData.tsx. Anything the UI would show as an error toast raises.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from octograph_pipeline.dev.influxd import free_port

from .processes import started

LOCATION = "octograph_pipeline"
TERMINAL_BACKFILL_STATUSES = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
UI_TAGS = [{"key": "dagster/from_ui", "value": "true"}]  # tagsWithUIExecutionTags(): every UI launch has it
RUN_END_EVENTS = {"RUN_SUCCESS", "RUN_FAILURE", "RUN_CANCELED"}

PYTHON_ERROR = "... on PythonError { message stack }"
# BackfillUtils.tsx LAUNCH_PARTITION_BACKFILL_MUTATION, with the error fragments reduced to their messages.
LAUNCH_BACKFILL = f"""
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {{
  launchPartitionBackfill(backfillParams: $backfillParams) {{
    __typename
    ... on LaunchBackfillSuccess {{ backfillId }}
    ... on PartitionSetNotFoundError {{ message }}
    ... on PartitionKeysNotFoundError {{ message }}
    ... on InvalidStepError {{ invalidStepKey }}
    ... on InvalidOutputError {{ stepKey invalidOutputName }}
    ... on UnauthorizedError {{ message }}
    ... on PipelineNotFoundError {{ message }}
    ... on RunConflict {{ message }}
    ... on ConflictingExecutionParamsError {{ message }}
    ... on PresetNotFoundError {{ message }}
    ... on RunConfigValidationInvalid {{ pipelineName errors {{ message path reason }} }}
    {PYTHON_ERROR}
  }}
}}"""
READY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries { name loadStatus locationOrLoadError { __typename ... on PythonError { message } } }
    }
  }
  instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } }
}"""
BACKFILL_STATUS = f"""
query BackfillStatus($backfillId: String!) {{
  partitionBackfillOrError(backfillId: $backfillId) {{
    __typename
    ... on PartitionBackfill {{ status }}
    ... on BackfillNotFoundError {{ message }}
    {PYTHON_ERROR}
  }}
}}"""
BACKFILL = """
query Backfill($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    ... on PartitionBackfill {
      status creationTime endTimestamp error { message }
      runs { runId status jobName creationTime startTime endTime tags { key value } }
      assetBackfillData {
        assetBackfillStatuses {
          ... on AssetPartitionsStatusCounts {
            assetKey { path }
            numPartitionsTargeted numPartitionsInProgress numPartitionsMaterialized numPartitionsFailed
          }
        }
      }
    }
  }
}"""
RUN_EVENTS = """
query RunEvents($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor) {
    __typename
    ... on EventConnection {
      cursor hasMore events { ... on MessageEvent { timestamp eventType stepKey message } }
    }
  }
}"""
# usePartitionHealthData.tsx PARTITION_HEALTH_QUERY (time-window partitions only): the partitions tab's colours.
PARTITION_HEALTH = """
query PartitionHealthQuery($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    __typename
    ... on AssetNode {
      partitionKeysByDimension { partitionKeys }
      assetPartitionStatuses { ... on TimePartitionStatuses { ranges { status startKey endKey } } }
    }
  }
}"""
CHECK_PARTITIONS = """
query CheckPartitions($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    __typename
    ... on AssetNode {
      assetChecksOrError {
        __typename
        ... on AssetChecks {
          checks {
            name
            partitionStatuses { ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } } }
          }
        }
      }
    }
  }
}"""
CHECK_EXECUTIONS = """
query CheckExecutions($assetKey: AssetKeyInput!, $checkName: String!, $limit: Int!) {
  assetCheckExecutions(assetKey: $assetKey, checkName: $checkName, limit: $limit) {
    runId partition status timestamp evaluation { success severity }
  }
}"""


class DagsterUiError(RuntimeError):
    """What the UI would show as an error: a GraphQL error, a failed mutation, or the webserver not coming up."""


def asset_key(key: str) -> dict:
    return {"path": key.split("/")}


class DagsterDev:
    """Dagster's webserver and daemon as `make ui` starts them (`python -m octograph_pipeline.daemon dev`, whose
    backfill daemon polls every 3 s) in a process group of its own, ready once the code location has loaded and
    every daemon the instance needs is healthy, so a backfill launched next is picked up by a running daemon
    rather than racing its start-up. Output goes to DAGSTER_HOME/dagster-dev.log."""

    def __init__(
        self,
        workspace: str | os.PathLike,
        dagster_home: str | os.PathLike,
        env: dict[str, str] | None = None,
        startup_timeout: float = 120,
        location: str = LOCATION,
        sigint: signal.Handlers = signal.SIG_DFL,
    ):
        self.workspace = Path(workspace)
        self.home = Path(dagster_home)
        self.env = {**os.environ, **(env or {}), "DAGSTER_HOME": str(self.home)}
        self.startup_timeout = startup_timeout
        self.location = location
        self.sigint = sigint  # SIGINT as a terminal (SIG_DFL) or a background job (SIG_IGN) would give it
        self._processes = contextlib.ExitStack()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.home / "dagster-dev.log"
        self.process: subprocess.Popen | None = None
        self.launched: dict[str, float] = {}  # backfill id -> when it was launched (time.time())

    def __enter__(self) -> DagsterDev:
        command = [
            sys.executable,
            "-m",
            "octograph_pipeline.daemon",
            "dev",
            "-w",
            str(self.workspace),
        ]
        with self.log.open("ab") as log:
            self.process = self._processes.enter_context(
                started(
                    [*command, "--host", "127.0.0.1", "-p", str(self.port)],
                    sigint=self.sigint,
                    stop_signals=(signal.SIGINT, signal.SIGTERM),  # Ctrl-C first, as `make ui` is stopped
                    grace=30,
                    cwd=self.home,  # as `make ui`: a dagster.yaml in the working directory would draw a warning
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        """Ctrl-C for the whole group (the supervisor stops its children itself), then SIGTERM, then SIGKILL,
        each until every process of the group (the webserver's code servers, the daemon's runs too) has exited."""
        if self.process is None:
            return
        self.process = None
        self._processes.close()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DagsterUiError(
                    f"the Dagster services exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                data = self.graphql(READY)
            except (requests.RequestException, DagsterUiError) as error:
                last = repr(error)
            else:
                entries = {entry["name"]: entry for entry in data["workspaceOrError"].get("locationEntries", [])}
                entry = entries.get(self.location) or {}
                loaded = entry.get("locationOrLoadError") or {}
                if loaded.get("__typename") == "PythonError":
                    raise DagsterUiError(f"code location {self.location} failed to load: {loaded['message']}")
                daemons = data["instance"]["daemonHealth"]["allDaemonStatuses"]
                unhealthy = [d["daemonType"] for d in daemons if d["required"] and not d["healthy"]]
                if loaded.get("__typename") == "RepositoryLocation" and daemons and not unhealthy:
                    return
                last = f"location {entry.get('loadStatus', 'missing')}, daemons not healthy yet: {unhealthy}"
            time.sleep(0.5)
        raise DagsterUiError(f"Dagster not ready in {self.startup_timeout} s ({last}):\n{self.log_tail()}")

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = {"query": query, "variables": variables or {}}
        response = requests.post(f"{self.url}/graphql", json=body, timeout=60)
        try:
            body = response.json()
        except ValueError:
            raise DagsterUiError(f"HTTP {response.status_code} from /graphql: {response.text[:2000]}") from None
        # A resolver's PythonError comes back as HTTP 500 with data: the caller reports it by its __typename.
        if body.get("errors") or not body.get("data"):
            raise DagsterUiError(f"GraphQL errors (HTTP {response.status_code}): {body.get('errors') or body}")
        return body["data"]

    def _launched_backfill(self, result: dict, clicked: float) -> str:
        if result["__typename"] != "LaunchBackfillSuccess":
            details = result.get("message") or {k: v for k, v in result.items() if k != "__typename"}
            raise DagsterUiError(f"{result['__typename']}: {details}")
        self.launched[result["backfillId"]] = clicked
        return result["backfillId"]

    def launch_asset_backfill(self, asset_keys: list[str], partition_keys: list[str]) -> str:
        """*Materialize…* on the selected assets, a range of partitions picked, *Launch backfill*. For assets of
        more than one partitions definition (or whose only common job is the hidden __ASSET_JOB), the dialog
        sends a pure asset backfill: the selection and the anchor (root) asset's partition keys, not a job's
        partition set, and the daemon works out the downstream assets' partitions."""
        params = {
            "tags": UI_TAGS,
            "assetSelection": [asset_key(key) for key in asset_keys],
            "partitionNames": list(partition_keys),
            "fromFailure": False,
        }
        clicked = time.time()
        data = self.graphql(LAUNCH_BACKFILL, {"backfillParams": params})
        return self._launched_backfill(data["launchPartitionBackfill"], clicked)

    def wait_for_backfill(self, backfill_id: str, timeout: float = 300, poll: float = 0.5) -> dict:
        """Polls until the backfill is terminal. Returns its status, `seconds` from launch to when this poll saw
        it done, its runs (oldest first, with the first time of each event type, run-level in `events` and per
        step in `steps`) and per-asset partition counts (`assets`), as the backfill page shows them."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.graphql(BACKFILL_STATUS, {"backfillId": backfill_id})["partitionBackfillOrError"]
            if result["__typename"] != "PartitionBackfill":
                raise DagsterUiError(f"{result['__typename']}: {result.get('message')}")
            if result["status"] in TERMINAL_BACKFILL_STATUSES:
                done = time.time()
                break
            if time.monotonic() > deadline:
                raise DagsterUiError(f"backfill {backfill_id} still {result['status']} after {timeout} s")
            time.sleep(poll)
        backfill = self.graphql(BACKFILL, {"backfillId": backfill_id})["partitionBackfillOrError"]
        launched = self.launched.get(backfill_id, backfill["creationTime"])
        runs = sorted(backfill["runs"], key=lambda run: run["creationTime"])
        for run in runs:
            run["tags"] = {tag["key"]: tag["value"] for tag in run["tags"]}
            run["events"], run["steps"] = {}, {}  # event type -> its first time, per run and per step
            for event in filter(lambda event: event["eventType"], self.run_events(run["runId"])):  # not logs
                times = run["steps"].setdefault(event["stepKey"], {}) if event["stepKey"] else run["events"]
                times.setdefault(event["eventType"], event["timestamp"])
        statuses = (backfill.get("assetBackfillData") or {}).get("assetBackfillStatuses") or []
        return {
            "id": backfill_id,
            "status": backfill["status"],
            "error": backfill["error"],
            "launched": launched,
            "done": done,
            "seconds": done - launched,
            "end_timestamp": backfill["endTimestamp"],
            "runs": runs,
            "assets": {"/".join(s["assetKey"]["path"]): s for s in statuses if "assetKey" in s},
        }

    def run_events(self, run_id: str) -> list[dict]:
        """A run's event log (what the run page lists): timestamp in seconds, eventType, stepKey, message."""
        events, cursor = [], None
        while True:
            connection = self.graphql(RUN_EVENTS, {"runId": run_id, "cursor": cursor})["logsForRun"]
            if connection["__typename"] != "EventConnection":
                raise DagsterUiError(f"logs of run {run_id}: {connection}")
            events += [{**e, "timestamp": int(e["timestamp"]) / 1000} for e in connection["events"] if e]
            if not connection["hasMore"]:
                return events
            cursor = connection["cursor"]

    def partition_statuses(self, asset: str) -> dict[str, str]:
        """Partition key -> MATERIALIZED / FAILED / MATERIALIZING, as the asset's partitions tab colours it."""
        node = self.graphql(PARTITION_HEALTH, {"assetKey": asset_key(asset)})["assetNodeOrError"]
        if node["__typename"] != "AssetNode":
            raise DagsterUiError(f"{asset}: {node['__typename']}")
        keys = node["partitionKeysByDimension"][0]["partitionKeys"]
        statuses = {}
        for status_range in node["assetPartitionStatuses"]["ranges"]:
            first, last = keys.index(status_range["startKey"]), keys.index(status_range["endKey"])
            statuses.update(dict.fromkeys(keys[first : last + 1], status_range["status"]))
        return statuses

    def materialized_partitions(self, asset: str) -> set[str]:
        return {key for key, status in self.partition_statuses(asset).items() if status == "MATERIALIZED"}

    def check_executions(self, asset: str, check_name: str, limit: int = 100) -> list[dict]:
        """The asset check's executions, newest first, as its checks tab lists them (partition, status, ...)."""
        variables = {"assetKey": asset_key(asset), "checkName": check_name, "limit": limit}
        return self.graphql(CHECK_EXECUTIONS, variables)["assetCheckExecutions"]

    def check_partition_statuses(self, asset: str) -> dict[str, dict[str, str]]:
        """Check name -> {day: SUCCEEDED / FAILED / SKIPPED / ...}, as the asset's checks tab shows each day."""
        node = self.graphql(CHECK_PARTITIONS, {"assetKey": asset_key(asset)})["assetNodeOrError"]
        checks = node["assetChecksOrError"]
        if checks["__typename"] != "AssetChecks":
            raise DagsterUiError(f"{asset}: {checks['__typename']}")
        statuses: dict[str, dict[str, str]] = {}
        for check in checks["checks"]:
            days = statuses.setdefault(check["name"], {})
            for status_range in (check["partitionStatuses"] or {}).get("ranges", []):
                day, last = (dt.date.fromisoformat(status_range[key]) for key in ("startKey", "endKey"))
                while day <= last:  # daily partitions: a range names its first and last day
                    days[day.isoformat()] = status_range["status"]
                    day += dt.timedelta(days=1)
        return statuses


def timing_breakdown(backfill: dict) -> list[tuple[str, float]]:
    """Where a backfill's wall time went, from launch, run after run: the backfill daemon's tick submitting
    the run (RUN_ENQUEUED), the run queue (RUN_STARTING when the coordinator's loop launches it), the run
    process loading the code (RUN_START), then inside the run the multiprocess executor's per-step
    subprocesses starting (STEP_WORKER_STARTING -> STEP_START), the steps' own work (STEP_START -> its end)
    and the executor's remaining overhead; finally the tick that marks the backfill done. Overlapping runs
    (not ours: prices must finish before consumption is submitted) would double count their overlap."""
    phases, mark = [], backfill["launched"]
    for run in backfill["runs"]:
        events, name = run["events"], f"{run['jobName']} {run['runId'][:8]}"
        enqueued = events.get("RUN_ENQUEUED", run["creationTime"])
        starting = events.get("RUN_STARTING", enqueued)
        started = events.get("RUN_START", run["startTime"] or starting)
        ended = run["endTime"] or started
        workers = work = 0.0
        for times in run["steps"].values():
            begun = times.get("STEP_START")
            finished = times.get("STEP_SUCCESS") or times.get("STEP_FAILURE")
            if begun:
                workers += begun - times.get("STEP_WORKER_STARTING", begun)
            if begun and finished:
                work += finished - begun
        phases += [
            (f"{name}: backfill daemon tick until the run is enqueued", max(0.0, enqueued - mark)),
            (f"{name}: queued until the run coordinator launches it", starting - enqueued),
            (f"{name}: run process starting (RUN_STARTING -> RUN_START)", started - starting),
            (f"{name}: step subprocesses starting ({len(run['steps'])} steps)", workers),
            (f"{name}: steps working", work),
            (f"{name}: executor overhead between steps and at exit", ended - started - workers - work),
        ]
        mark = max(mark, ended)
    phases.append(("backfill daemon tick until the backfill is marked done", backfill["done"] - mark))
    return phases
