"""Dagster resources: run config holds only the INI file's path; settings and secrets are read at run time."""

import dagster as dg

from .config import Settings, load_settings
from .octopus.client import OctopusClient, default_retry


class OctographConfig(dg.ConfigurableResource):
    """The seed's INI file. Secrets stay in the environment variables it names, so they never reach run
    config, logs or metadata."""

    config_file: str

    def settings(self) -> Settings:
        return load_settings(self.config_file)

    def octopus_client(self, settings: Settings) -> OctopusClient:
        octopus, pipeline = settings.octopus, settings.pipeline
        return OctopusClient(
            octopus.api_prefix,
            octopus.api_key(),
            retry=default_retry(total=pipeline.api_retries, backoff_factor=pipeline.api_backoff_seconds),
            cache_dir=octopus.cache_dir if octopus.enable_cache else None,
        )
