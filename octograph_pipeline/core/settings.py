"""The typed settings the pipeline runs on, and the error a bad one raises. `config` reads them from the INI
file; everything else takes them (or the parts it uses) from here. Secrets are read from the environment
variables the settings name, when asked, never stored."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo


class ConfigError(ValueError):
    """A bad or missing option; the message names the section and option."""


@dataclass(frozen=True)
class PointTags:
    """The tags a point carries beside its own: every point `additional`, the seed's measurements also the
    `included` ones it names (`[influxdb] included_tags`)."""

    included: tuple[str, ...] = ()
    additional: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GasConversion:
    """Which gas meters report m³ (`meter_types`: SMETS2) and how m³ become kWh: volume correction × the day's
    calorific value (`calorific_values` by date, else `calorific_value`) / 3.6."""

    meter_types: Mapping[str, str] = field(default_factory=dict)
    volume_correction_factor: float = 1.02264
    calorific_value: float = 38.8
    calorific_values: Mapping[dt.date, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PriceRules:
    """What decides an interval's price besides the tariff: where days begin (`tz`), the interval length, the
    payment method, Economy 7's night window, and Intelligent Octopus's off-peak billing of one import meter
    point's smart charges (`intelligent_mpan`; None: no such billing)."""

    tz: ZoneInfo
    resolution_minutes: int = 30
    payment_method: str = "DIRECT_DEBIT"
    low_rate_start: dt.time = dt.time(1)
    low_rate_end: dt.time = dt.time(8)
    low_rate_tz: ZoneInfo | None = None  # None: tz
    intelligent_mpan: str | None = None
    intelligent_off_peak_start: dt.time = dt.time(23, 30)
    charge_cap_hours: float = 6.0


@dataclass(frozen=True)
class InfluxSettings:
    url: str = "http://localhost:8086"
    org: str = "primary"
    bucket: str = "primary"
    token_env_var: str = "OCTOGRAPH_INFLUXDB_TOKEN"
    api_version: int = 2
    included_tags: tuple[str, ...] = ()
    additional_tags: dict[str, str] = field(default_factory=dict)

    def token(self) -> str | None:
        """The token from the environment (never stored in settings, so never logged). InfluxDB 1.x takes
        `username:password`: a bare token would be sent, and logged by InfluxDB, as a user name."""
        token = os.environ.get(self.token_env_var) or None
        if token and self.api_version == 1 and ":" not in token:
            raise ConfigError(
                f"[influxdb] token_env_var: {self.token_env_var} must hold username:password for InfluxDB 1.x "
                "(api_version = 1)"
            )
        return token

    @property
    def point_tags(self) -> PointTags:
        return PointTags(self.included_tags, self.additional_tags)


@dataclass(frozen=True)
class OctopusSettings:
    account_number: str
    timezone: str = "Europe/London"
    payment_method: str = "DIRECT_DEBIT"
    # Economy 7 night window: seed hours (1 and 8) or HH:MM, in unit_rate_low_timezone (default: timezone).
    unit_rate_low_start: dt.time = dt.time(1)
    unit_rate_low_end: dt.time = dt.time(8)
    unit_rate_low_timezone: str | None = None
    gas_meter_types: dict[str, str] = field(default_factory=dict)
    volume_correction_factor: float = 1.02264
    calorific_value: float = 38.8
    calorific_value_file: str | None = None
    # Daily calorific values read from calorific_value_file (date -> MJ/m³); `calorific_value` elsewhere.
    calorific_values: dict[dt.date, float] = field(default_factory=dict)
    resolution_minutes: int = 30
    api_prefix: str = "https://api.octopus.energy/v1"
    api_key_env_var: str = "OCTOGRAPH_OCTOPUS_API_KEY"
    enable_cache: bool = False
    cache_dir: str = ""  # default: user_cache_dir()
    included_meters: tuple[str, ...] = ()
    # Intelligent Octopus Go: the import MPAN whose smart-charge half-hours are billed at the off-peak rate, the
    # rate in force inside the off-peak window that starts at intelligent_off_peak_start (local time).
    intelligent_mpan: str | None = None
    intelligent_off_peak_start: dt.time = dt.time(23, 30)
    # Octopus's charge cap: hours of smart charging billed off-peak per midday-to-midday period (24 or more: none).
    intelligent_charge_cap_hours: float = 6.0

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def low_rate_tz(self) -> ZoneInfo:
        return ZoneInfo(self.unit_rate_low_timezone or self.timezone)

    @property
    def gas_conversion(self) -> GasConversion:
        return GasConversion(
            self.gas_meter_types, self.volume_correction_factor, self.calorific_value, self.calorific_values
        )

    @property
    def price_rules(self) -> PriceRules:
        return PriceRules(
            tz=self.tz,
            resolution_minutes=self.resolution_minutes,
            payment_method=self.payment_method,
            low_rate_start=self.unit_rate_low_start,
            low_rate_end=self.unit_rate_low_end,
            low_rate_tz=self.low_rate_tz,
            intelligent_mpan=self.intelligent_mpan,
            intelligent_off_peak_start=self.intelligent_off_peak_start,
            charge_cap_hours=self.intelligent_charge_cap_hours,
        )

    def api_key(self) -> str:
        """The API key from the environment; a missing one is a config error naming the variable."""
        key = os.environ.get(self.api_key_env_var)
        if not key or not key.strip():
            state = "is not set" if key is None else "is empty"
            raise ConfigError(
                f"[octopus] api_key_env_var: environment variable {self.api_key_env_var} {state} "
                "(it must hold your Octopus API key)"
            )
        return key.strip()


@dataclass(frozen=True)
class PipelineSettings:
    """Options of ours, not the seed's: the partitions, late data and retries."""

    start_date: dt.date = dt.date(2024, 1, 1)
    lookback_days: int = 7  # how far back the late-data sensor looks for incomplete days
    late_data_retry_hours: int = 6  # the sensor re-requests an incomplete day at most this often
    # Transient failures (5xx, 429, HTML 403, timeouts): each step attempt may wait up to api_retry_budget_seconds
    # between HTTP retries, and the step is retried `retries` times, after 30 s, then 90 s (Dagster's exponential
    # backoff). By default a day that keeps failing fails within 3 × 45 s + 120 s, under 5 minutes.
    retries: int = 2
    retry_delay_seconds: int = 30
    api_retries: int = 6  # HTTP retries per request (429, 5xx, HTML 403, read timeouts)
    api_backoff_seconds: float = 0.5  # urllib3 backoff factor: waits of factor × 2^n s, at most 30 s each
    api_retry_budget_seconds: int = 45
    # Requests per second to Octopus from all runs of this machine together (0: no cap); a 429 pauses them all.
    api_requests_per_second: float = 20.0
    # A Celery broker (redis://host:port/db): each run's steps then execute on Dagster's Celery workers, on any
    # machine that reaches it, instead of in the run's own process.
    celery_broker: str | None = None


@dataclass(frozen=True)
class ComparisonSettings:
    """Octopus products to price the same half-hours on (product codes such as AGILE-24-10-01): `products` for
    electricity import, `export_products` for export meters, `gas_products` for gas. None at all: no comparison."""

    products: tuple[str, ...] = ()
    export_products: tuple[str, ...] = ()
    gas_products: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.products or self.export_products or self.gas_products)


@dataclass(frozen=True)
class CarbonSettings:
    """The grid's carbon intensity beside the usage (`[carbon]`, off by default): the GB Carbon Intensity API's
    address, and the kg CO2e per kWh of gas burnt (gross calorific value; the UK government's conversion factor
    for natural gas, README: Carbon)."""

    enabled: bool = False
    api_prefix: str = "https://api.carbonintensity.org.uk"
    gas_kg_co2e_per_kwh: float = 0.18231


@dataclass(frozen=True)
class Settings:
    influxdb: InfluxSettings
    octopus: OctopusSettings
    pipeline: PipelineSettings
    comparison: ComparisonSettings = ComparisonSettings()
    carbon: CarbonSettings = CarbonSettings()
    # The `[household:NAME]` section's NAME in a file with several households; "" for the seed's one.
    household: str = ""
