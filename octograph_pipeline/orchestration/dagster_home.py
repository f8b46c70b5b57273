"""DAGSTER_HOME as the command line and the daemon find it: checked, and a new, empty one given the project's
instance settings (dagster.yaml) rather than Dagster's defaults.

Dagster's default storages open a database connection (and a SQLite file per run) for every event, and a year's
back-fill stores about 4,400 events: on a new, empty DAGSTER_HOME it ran about 3x slower than on one holding
our dagster.yaml (`make bench`). A home that already holds Dagster's data under its defaults is left as it is
(its runs would vanish from the UI under another storage), with a warning; a user's dagster.yaml is never touched.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

INSTANCE_FILE = "dagster.yaml"
# In a wheel the project's dagster.yaml sits in the package (pyproject's force-include); in a checkout, beside it.
PROJECT_INSTANCE_FILES = (
    Path(__file__).resolve().parents[1] / INSTANCE_FILE,
    Path(__file__).resolve().parents[2] / INSTANCE_FILE,
)
# What Dagster's default instance keeps in DAGSTER_HOME once it has been used.
DAGSTER_STATE = ("history", "storage", "schedules")
# Dagster reads this from the environment only (dagster.yaml has no such setting). With it, a run's planned events
# and a multi-day output's materialisations reach the event log in batches: one transaction each on our SQLite
# storage, one insert for PostgreSQL's materialisations. The compose stack sets it too.
EVENT_BATCH_SIZE_ENV_VAR, EVENT_BATCH_SIZE = "DAGSTER_EVENT_BATCH_SIZE", "1000"


class DagsterHomeError(ValueError):
    """DAGSTER_HOME cannot be used; the message says why and what to do."""


def batch_events() -> None:
    """Dagster's event batching for this process and those it starts, unless the environment says otherwise."""
    if not os.environ.get(EVENT_BATCH_SIZE_ENV_VAR, "").strip():
        os.environ[EVENT_BATCH_SIZE_ENV_VAR] = EVENT_BATCH_SIZE


def checked_home() -> Path | None:
    """$DAGSTER_HOME as Dagster needs it (an existing, absolute directory), or None when unset."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return None
    if not os.path.isabs(home):
        raise DagsterHomeError(f"DAGSTER_HOME={home} is not an absolute path")
    if not os.path.isdir(home):
        raise DagsterHomeError(f"DAGSTER_HOME={home} does not exist: create it (an empty folder will do)")
    return Path(home)


def project_instance_file() -> Path | None:
    return next((path for path in PROJECT_INSTANCE_FILES if path.is_file()), None)


def prepare(home: Path) -> str | None:
    """Gives a DAGSTER_HOME without dagster.yaml and without Dagster's data the project's dagster.yaml; returns
    what it did, or a warning when it could not, or None when the home already has its own dagster.yaml."""
    if (home / INSTANCE_FILE).exists():
        return None
    source = project_instance_file()
    if any((home / name).exists() for name in DAGSTER_STATE):
        return (
            f"DAGSTER_HOME={home} has no {INSTANCE_FILE} and holds Dagster's default storage, which stores each "
            "event about 5x slower: long back-fills are about 3x slower there (copy the project's "
            f"{INSTANCE_FILE} into a new, empty DAGSTER_HOME)"
        )
    if source is None:
        return f"DAGSTER_HOME={home} has no {INSTANCE_FILE} and the project's is not installed: Dagster's defaults"
    shutil.copyfile(source, home / INSTANCE_FILE)
    return f"DAGSTER_HOME={home} had no {INSTANCE_FILE}: wrote the project's instance settings into it"
