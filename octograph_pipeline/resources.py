"""Dagster resources: run config holds only the INI file's path; settings and secrets are read at run time."""

import dagster as dg

from .config import Settings, load_settings
from .octopus.client import OctopusClient


class OctographConfig(dg.ConfigurableResource):
    """The seed's INI file. Secrets stay in the environment variables it names, so they never reach run
    config, logs or metadata."""

    config_file: str

    def settings(self) -> Settings:
        return load_settings(self.config_file)

    def octopus_client(self, settings: Settings) -> OctopusClient:
        return OctopusClient.from_settings(settings)
