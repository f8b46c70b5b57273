"""Dagster resources: run config holds only the INI file's path; settings and secrets are read at run time."""

import dagster as dg
from pydantic import PrivateAttr

from octograph_pipeline.clients.kraken import KrakenClient
from octograph_pipeline.clients.octopus import OctopusClient
from octograph_pipeline.config import load_settings
from octograph_pipeline.core.settings import Settings


class OctographConfig(dg.ConfigurableResource):
    """The seed's INI file. Secrets stay in the environment variables it names, so they never reach run
    config, logs or metadata."""

    config_file: str
    _settings: Settings | None = PrivateAttr(default=None)

    @property
    def settings(self) -> Settings:
        """Parsed at first use in a run, then kept: Dagster gives every run its own copy of the resource, so a
        changed file is read by the next run."""
        if self._settings is None:
            self._settings = load_settings(self.config_file)
        return self._settings

    def octopus_client(self) -> OctopusClient:
        return OctopusClient.from_settings(self.settings)

    def kraken_client(self) -> KrakenClient:
        """Octopus's GraphQL API: gas meters' units, Intelligent dispatches."""
        return KrakenClient.from_settings(self.settings)
