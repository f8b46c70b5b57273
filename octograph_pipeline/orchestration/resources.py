"""Dagster resources: run config holds only the INI file's path; settings and secrets are read at run time."""

import dagster as dg
from pydantic import PrivateAttr

from octograph_pipeline.clients.carbon import CarbonIntensityClient
from octograph_pipeline.clients.kraken import KrakenClient
from octograph_pipeline.clients.octopus import OctopusClient
from octograph_pipeline.config import load_households
from octograph_pipeline.core.settings import ConfigError, Settings
from octograph_pipeline.orchestration.households import household_of


class OctographConfig(dg.ConfigurableResource):
    """The seed's INI file. Secrets stay in the environment variables it names, so they never reach run
    config, logs or metadata."""

    config_file: str
    _households: dict[str, Settings] | None = PrivateAttr(default=None)

    @property
    def households(self) -> dict[str, Settings]:
        """Every household's settings by name ("" for a seed file's one). Parsed at first use in a run, then
        kept: Dagster gives every run its own copy of the resource, so a changed file is read by the next run."""
        if self._households is None:
            self._households = {settings.household: settings for settings in load_households(self.config_file)}
        return self._households

    def household(self, name: str) -> Settings:
        if name not in self.households:
            raise ConfigError(f"config file {self.config_file} has no [household:{name}] section (any more)")
        return self.households[name]

    def settings_for(self, key: dg.AssetKey) -> Settings:
        """The settings of the household whose asset this is."""
        return self.household(household_of(key))

    def octopus_client(self, settings: Settings) -> OctopusClient:
        return OctopusClient.from_settings(settings)

    def kraken_client(self, settings: Settings) -> KrakenClient:
        """Octopus's GraphQL API: gas meters' units, Intelligent dispatches."""
        return KrakenClient.from_settings(settings)

    def carbon_client(self, settings: Settings) -> CarbonIntensityClient:
        """The GB Carbon Intensity API (`[carbon] api_prefix`): the grid's intensity and generation mix."""
        return CarbonIntensityClient.from_settings(settings)
