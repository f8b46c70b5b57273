"""The seed's INI file -> typed settings. The one place that knows option names, defaults and checks."""

from __future__ import annotations

import configparser
import dataclasses
import datetime as dt
import math
import os
import re
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from octograph_pipeline.core import schema
from octograph_pipeline.core.settings import (
    CarbonSettings,
    ComparisonSettings,
    ConfigError,
    InfluxSettings,
    OctopusSettings,
    PipelineSettings,
    Settings,
)

CONFIG_ENV_VAR = "OCTOGRAPH_CONFIG"
DEFAULT_CONFIG_FILE = "octograph.ini"

PAYMENT_METHODS = ("DIRECT_DEBIT", "NON_DIRECT_DEBIT")
GAS_METER_TYPES = ("SMETS1", "SMETS2")
# Weekly grouping (10080) exists in the API but cannot be split into daily partitions.
RESOLUTIONS = (30, 60, 1440)
# Physically sensible ranges, checked when the config is read (README: Configuration). GB gas: the correction for
# temperature and pressure is 1.02264 as standard (a few sites differ by a percent or two); calorific values of
# the gas grid are about 37-42 MJ/m³. Backoff factors beyond a minute would exhaust any retry budget at once.
VOLUME_CORRECTION_RANGE = (0.9, 1.1)
CHARGE_CAP_RANGE = (0.0, 25.0)  # hours per midday-to-midday period (25 on a clock-change day)
CALORIFIC_RANGE = (30.0, 50.0)
API_BACKOFF_RANGE = (0.0, 60.0)
REQUEST_RATE_RANGE = (0.0, 1000.0)  # requests per second, 0: no cap
GAS_FACTOR_RANGE = (0.1, 0.3)  # kg CO2e per kWh of natural gas: every published UK factor is about 0.18


def user_cache_dir() -> str:
    """This user's cache directory (XDG): the response cache holds addresses and usage, so not /tmp."""
    return str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "octograph")


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    """`--config-file` wins, then $OCTOGRAPH_CONFIG, then the seed's default `octograph.ini`."""
    return Path(explicit or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_FILE)


HOUSEHOLD_SECTION = "household:"  # [household:NAME]: one Octopus account of several
HOUSEHOLD_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
HOUSEHOLD_TAG_OPTIONS = ("included_tags", "additional_tags")  # the [influxdb] options a household may have


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """The settings of a file with one household (the seed's)."""
    households = load_households(path)
    if len(households) > 1:
        names = ", ".join(f"[{HOUSEHOLD_SECTION}{settings.household}]" for settings in households)
        raise ConfigError(
            f"config file {config_path(path)} has {len(households)} households ({names}): the octograph command "
            'runs one; run them from Dagster (README, "Several households") or give each its own file'
        )
    return households[0]


def load_households(path: str | os.PathLike | None = None) -> tuple[Settings, ...]:
    """Every household of the file: its `[household:NAME]` sections, or the seed's one."""
    path = config_path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory: give the INI file's path (--config-file)")
    if not path.is_file():
        raise ConfigError(f"config file {path} not found (set --config-file or ${CONFIG_ENV_VAR})")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_bytes().decode("utf-8-sig"), source=str(path))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        problem = str(exc.message if hasattr(exc, "message") else exc).splitlines()[0].rstrip(".")
        if type(exc) is configparser.ParsingError:  # its `errors`: (line number, line) pairs
            line, text = exc.errors[0]
            problem = f"{text} is neither a [section] nor an option = value"
        raise ConfigError(
            f"config file {path} is not a valid INI file: {problem}" + (f" (line {line})" if line else "")
        ) from None
    return parse_households(parser, base_dir=path.resolve().parent)


def parse_households(parser: configparser.ConfigParser, base_dir: Path = Path(".")) -> tuple[Settings, ...]:
    """A file without `[household:NAME]` sections is one household. Each such section is one more: its own
    `[octopus]` and `[comparison]` options (`account_number` and `api_key_env_var` at least) and tags over the
    shared sections' values, and every point it writes tagged with its `account_number`, which keeps each
    household's points, and the window each run replaces, apart in one database."""
    sections = [name for name in parser.sections() if name.startswith(HOUSEHOLD_SECTION)]
    if not sections:
        return (parse_settings(parser, base_dir),)
    households = tuple(_household(parser, section, base_dir) for section in sections)
    seen: dict[str, str] = {}
    for section, settings in zip(sections, households, strict=True):
        number = settings.octopus.account_number
        if number in seen:
            raise ConfigError(f"[{section}] account_number: {number} is also [{seen[number]}]'s")
        seen[number] = section
    return households


def _household(parser: configparser.ConfigParser, section: str, base_dir: Path) -> Settings:
    name = section.removeprefix(HOUSEHOLD_SECTION)
    if not HOUSEHOLD_NAME.fullmatch(name):
        raise ConfigError(
            f"[{section}]: a household's name is up to 40 lower-case letters, digits and _, starting with a "
            "letter (it prefixes the household's asset keys)"
        )
    own = {option: parser[section][option] for option in parser.options(section)}
    for option in ("account_number", "api_key_env_var"):  # each household's own, never the shared one
        if option not in own:
            raise ConfigError(f"[{section}] {option}: required in every household's section")
    merged = configparser.ConfigParser(interpolation=None)
    shared = [other for other in parser.sections() if not other.startswith(HOUSEHOLD_SECTION)]
    merged.read_dict({other: dict(parser[other]) for other in shared})
    for option, value in own.items():
        target = (
            "influxdb"
            if option in HOUSEHOLD_TAG_OPTIONS
            else next((name for name in ("octopus", "comparison") if option in _Section.KNOWN[name]), None)
        )
        if target is None:
            raise ConfigError(
                f"[{section}] {option}: unknown option (a household takes [octopus] and [comparison] options, "
                "included_tags and additional_tags)"
            )
        if not merged.has_section(target):
            merged.add_section(target)
        merged[target][option] = value
    try:
        settings = parse_settings(merged, base_dir)
    except ConfigError as exc:
        raise ConfigError(_in_household(str(exc), section, own)) from None
    shared_tags = _Section(parser, "influxdb").tags("additional_tags")  # the household's own, by name, over them
    tags = {
        **shared_tags,
        **settings.influxdb.additional_tags,
        schema.ACCOUNT_NUMBER: settings.octopus.account_number,
    }
    influxdb = dataclasses.replace(settings.influxdb, additional_tags=tags)
    return dataclasses.replace(settings, influxdb=influxdb, household=name)


def _in_household(message: str, section: str, own: dict[str, str]) -> str:
    """A merged section's error, naming the household's section when the option came from it."""
    match = re.match(r"\[(octopus|comparison|influxdb)\] (\w+):", message)
    if match and match.group(2) in own:
        return f"[{section}]" + message[len(match.group(1)) + 2 :]
    return f"{message} (for [{section}])"


def parse_settings(parser: configparser.ConfigParser, base_dir: Path = Path(".")) -> Settings:
    """Typed settings from a parsed INI file; relative file options are relative to `base_dir`."""
    influx, octopus, pipeline, comparison, carbon = (
        _Section(parser, name) for name in ("influxdb", "octopus", "pipeline", "comparison", "carbon")
    )
    settings = Settings(
        influxdb=_influxdb(influx),
        octopus=_octopus(octopus, base_dir),
        pipeline=_pipeline(pipeline),
        comparison=_comparison(comparison),
        carbon=_carbon(carbon),
    )
    for section in (influx, octopus, pipeline, comparison, carbon):
        section.reject_unknown()
    unknown = sorted(set(parser.sections()) - set(_Section.KNOWN))
    if unknown:
        raise ConfigError(
            f"[{unknown[0]}]: unknown section (expected [influxdb], [octopus], [pipeline], [comparison], [carbon] "
            "and [household:NAME])"
        )
    if settings.octopus.intelligent_mpan and settings.octopus.resolution_minutes != 30:
        raise ConfigError(
            "[octopus] intelligent_mpan: dispatches are priced per half-hour; set resolution_minutes = 30"
        )
    if settings.octopus.unit_rate_low_start == settings.octopus.unit_rate_low_end:
        raise ConfigError("[octopus] unit_rate_low_end: equals unit_rate_low_start, leaving no night-rate window")
    return settings


def _influxdb(influx: _Section) -> InfluxSettings:
    return InfluxSettings(
        url=influx.url("url", InfluxSettings.url),
        org=influx.text("org", InfluxSettings.org),
        bucket=influx.text("bucket", InfluxSettings.bucket),
        token_env_var=influx.text("token_env_var", InfluxSettings.token_env_var),
        api_version=influx.choice("api_version", InfluxSettings.api_version, (1, 2), int),
        included_tags=influx.subset("included_tags", schema.INCLUDED_TAGS),
        additional_tags=influx.tags("additional_tags"),
    )


def _octopus(octopus: _Section, base_dir: Path) -> OctopusSettings:
    return OctopusSettings(
        account_number=octopus.account_number("account_number"),
        timezone=octopus.timezone("timezone", OctopusSettings.timezone),
        payment_method=octopus.choice(
            "payment_method", OctopusSettings.payment_method, PAYMENT_METHODS, str.upper
        ),
        unit_rate_low_start=octopus.time_of_day("unit_rate_low_start", OctopusSettings.unit_rate_low_start),
        unit_rate_low_end=octopus.time_of_day("unit_rate_low_end", OctopusSettings.unit_rate_low_end),
        unit_rate_low_timezone=octopus.timezone("unit_rate_low_timezone", None),
        gas_meter_types=octopus.mapping("gas_meter_types", allowed_values=GAS_METER_TYPES),
        volume_correction_factor=octopus.number(
            "volume_correction_factor", OctopusSettings.volume_correction_factor, *VOLUME_CORRECTION_RANGE
        ),
        calorific_value=octopus.number("calorific_value", OctopusSettings.calorific_value, *CALORIFIC_RANGE),
        calorific_value_file=octopus.raw("calorific_value_file"),
        calorific_values=octopus.calorific_values("calorific_value_file", base_dir),
        resolution_minutes=octopus.choice(
            "resolution_minutes", OctopusSettings.resolution_minutes, RESOLUTIONS, int
        ),
        api_prefix=octopus.url("api_prefix", OctopusSettings.api_prefix),
        api_key_env_var=octopus.text("api_key_env_var", OctopusSettings.api_key_env_var),
        enable_cache=octopus.boolean("enable_cache", OctopusSettings.enable_cache),
        cache_dir=octopus.text("cache_dir", user_cache_dir()),
        included_meters=octopus.items("included_meters"),
        intelligent_mpan=octopus.mpan("intelligent_mpan"),
        intelligent_off_peak_start=octopus.time_of_day(
            "intelligent_off_peak_start", OctopusSettings.intelligent_off_peak_start
        ),
        intelligent_charge_cap_hours=octopus.number(
            "intelligent_charge_cap_hours", OctopusSettings.intelligent_charge_cap_hours, *CHARGE_CAP_RANGE
        ),
    )


def _pipeline(pipeline: _Section) -> PipelineSettings:
    return PipelineSettings(
        start_date=pipeline.date("start_date", PipelineSettings.start_date),
        lookback_days=pipeline.whole("lookback_days", PipelineSettings.lookback_days, 1, 60),
        late_data_retry_hours=pipeline.whole(
            "late_data_retry_hours", PipelineSettings.late_data_retry_hours, 1, 168
        ),
        retries=pipeline.whole("retries", PipelineSettings.retries, 0, 10),
        retry_delay_seconds=pipeline.whole("retry_delay_seconds", PipelineSettings.retry_delay_seconds, 0, 3600),
        api_retries=pipeline.whole("api_retries", PipelineSettings.api_retries, 0, 20),
        api_backoff_seconds=pipeline.number(
            "api_backoff_seconds", PipelineSettings.api_backoff_seconds, *API_BACKOFF_RANGE
        ),
        api_retry_budget_seconds=pipeline.whole(
            "api_retry_budget_seconds", PipelineSettings.api_retry_budget_seconds, 0, 3600
        ),
        api_requests_per_second=pipeline.number(
            "api_requests_per_second", PipelineSettings.api_requests_per_second, *REQUEST_RATE_RANGE
        ),
        celery_broker=pipeline.broker_url("celery_broker"),
    )


def _comparison(comparison: _Section) -> ComparisonSettings:
    return ComparisonSettings(
        products=comparison.product_codes("products"),
        export_products=comparison.product_codes("export_products"),
        gas_products=comparison.product_codes("gas_products"),
    )


def _carbon(carbon: _Section) -> CarbonSettings:
    return CarbonSettings(
        enabled=carbon.boolean("enabled", CarbonSettings.enabled),
        api_prefix=carbon.url("api_prefix", CarbonSettings.api_prefix),
        gas_kg_co2e_per_kwh=carbon.number(
            "gas_kg_co2e_per_kwh", CarbonSettings.gas_kg_co2e_per_kwh, *GAS_FACTOR_RANGE
        ),
    )


class _Section:
    """Typed reads of one INI section; every error names `[section] option`."""

    KNOWN = {
        "influxdb": {
            "url",
            "org",
            "bucket",
            "token_env_var",
            "api_version",
            "included_tags",
            "additional_tags",
        },
        "octopus": set(OctopusSettings.__dataclass_fields__) - {"calorific_values"},
        "pipeline": set(PipelineSettings.__dataclass_fields__),
        "comparison": set(ComparisonSettings.__dataclass_fields__),
        "carbon": set(CarbonSettings.__dataclass_fields__),
    }

    def __init__(self, parser: configparser.ConfigParser, name: str):
        self.name = name
        self.values = dict(parser[name]) if parser.has_section(name) else {}

    def _error(self, option: str, problem: str) -> ConfigError:
        return ConfigError(f"[{self.name}] {option}: {problem}")

    def reject_unknown(self) -> None:
        unknown = sorted(set(self.values) - self.KNOWN[self.name])
        if unknown:
            raise self._error(unknown[0], "unknown option (check the spelling against the README)")

    def raw(self, option: str) -> str | None:
        """The value, or None when absent or empty: for options whose default is none (lists, optional files)."""
        value = self.values.get(option)
        return value.strip() if value is not None and value.strip() else None

    def given(self, option: str) -> str | None:
        """The value, or None when absent; an empty value is refused, as it would silently mean the default."""
        value = self.values.get(option)
        if value is not None and not value.strip():
            raise self._error(option, "is empty: give a value, or remove the line to use the default")
        return self.raw(option)

    def text(self, option: str, default: str) -> str:
        return self.given(option) or default

    def required(self, option: str) -> str:
        value = self.raw(option)
        if value is None:
            raise self._error(option, "is required")
        return value

    def url(self, option: str, default: str) -> str:
        """An http:// or https:// URL with a host (a URL without a scheme would be taken as a path)."""
        value = self.text(option, default).rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self._error(option, f"{value!r} is not an http:// or https:// URL")
        if parts.username or parts.password:  # they would be printed with every error naming the URL
            secret = {"octopus": "api_key_env_var", "influxdb": "token_env_var"}.get(self.name)
            where = f"put them in the variable named by [{self.name}] {secret}" if secret else "it needs none"
            raise self._error(option, f"holds credentials: {where}")
        return value

    def broker_url(self, option: str) -> str | None:
        """A Celery broker URL of a scheme Celery knows (Redis, RabbitMQ), without a password: the URL reaches
        run config and the workers' command lines, where a secret must not."""
        url = self.given(option)
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "amqp", "amqps", "pyamqp") or not parts.hostname:
            raise self._error(option, f"{url!r} is not a broker URL like redis://localhost:6379/0")
        if parts.password:
            raise self._error(option, "holds a password: reach the broker on a private network without one")
        return url

    def account_number(self, option: str) -> str:
        value = self.required(option).upper()
        if not re.fullmatch(r"A-[0-9A-Z]{8}", value):
            raise self._error(option, f"{value!r} is not an Octopus account number like A-1234ABCD")
        return value

    def mpan(self, option: str) -> str | None:
        value = self.raw(option)
        if value is not None and not re.fullmatch(r"\d{13}", value):
            raise self._error(option, f"{value!r} is not an MPAN (13 digits)")
        return value

    def choice(self, option, default, allowed, convert):
        value = self.given(option)
        if value is None:
            return default
        try:
            converted = convert(value)
        except ValueError:
            converted = None
        if converted not in allowed:
            raise self._error(option, f"{value!r} is not one of {', '.join(map(str, allowed))}")
        return converted

    def time_of_day(self, option: str, default: dt.time) -> dt.time:
        """A whole hour as in the seed (`1`) or `HH:MM` on the half-hour (`00:30`)."""
        value = self.given(option)
        if value is None:
            return default
        hours, _, minutes = value.partition(":")
        try:
            moment = dt.time(int(hours), int(minutes or 0))
        except ValueError:
            moment = None
        if moment is None or moment.minute not in (0, 30):
            raise self._error(option, f"{value!r} is not an hour 0-23 or a half-hour HH:MM such as 00:30")
        return moment

    def calorific_values(self, option: str, base_dir: Path) -> dict[dt.date, float]:
        """`date,value` rows (ISO or DD/MM/YYYY dates; a header line is allowed), e.g. the published daily CV."""
        name = self.raw(option)
        if name is None:
            return {}
        path = base_dir / name
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except OSError as exc:
            raise self._error(option, f"cannot read {path}: {exc.strerror}") from exc
        values = {}
        for number, line in enumerate(lines, start=1):
            cells = [cell.strip().strip('"') for cell in line.split(",")]
            if not cells[0] or (number == 1 and not cells[0][:1].isdigit()):
                continue  # blank line or header
            try:
                day = (
                    dt.datetime.strptime(cells[0], "%d/%m/%Y").date()
                    if "/" in cells[0]
                    else dt.date.fromisoformat(cells[0])
                )
                value = float(cells[1])
            except (ValueError, IndexError):
                raise self._error(option, f"{path} line {number}: {line!r} is not `date,value`") from None
            if not CALORIFIC_RANGE[0] <= value <= CALORIFIC_RANGE[1]:
                raise self._error(
                    option, f"{path} line {number}: {value} MJ/m³ is not a plausible calorific value"
                )
            values[day] = value
        if not values:
            raise self._error(option, f"{path} holds no `date,value` rows")
        return values

    def whole(self, option: str, default: int, low: int, high: int) -> int:
        value = self.given(option)
        if value is None:
            return default
        if not value.isdigit() or not low <= int(value) <= high:
            raise self._error(option, f"{value!r} is not a whole number from {low} to {high}")
        return int(value)

    def number(self, option: str, default: float, low: float, high: float) -> float:
        """A finite number within [low, high]: the physically sensible range the README documents."""
        value = self.given(option)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and low <= number <= high):
            raise self._error(option, f"{value!r} is not a number from {low:g} to {high:g}")
        return number

    def boolean(self, option: str, default: bool) -> bool:
        value = self.given(option)
        if value is None:
            return default
        states = configparser.ConfigParser.BOOLEAN_STATES
        if value.lower() not in states:
            raise self._error(option, f"{value!r} is not true or false")
        return states[value.lower()]

    def timezone(self, option: str, default: str | None) -> str | None:
        value = (self.raw(option) if default is None else self.given(option)) or default
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise self._error(option, f"{value!r} is not a known IANA time zone") from exc
        return value

    def date(self, option: str, default: dt.date) -> dt.date:
        value = self.given(option)
        if value is None:
            return default
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            raise self._error(option, f"{value!r} is not a date in YYYY-MM-DD format") from exc

    def items(self, option: str) -> tuple[str, ...]:
        value = self.raw(option) or ""
        return tuple(item.strip() for item in value.split(",") if item.strip())

    def product_codes(self, option: str) -> tuple[str, ...]:
        """Octopus product codes (`AGILE-24-10-01`, not a tariff code such as `E-1R-AGILE-24-10-01-C`)."""
        codes = tuple(dict.fromkeys(item.upper() for item in self.items(option)))
        for code in codes:
            if re.fullmatch(r"[EG]-[12]R-.+-[A-P]", code):
                raise self._error(option, f"{code!r} is a tariff code; give its product code, {code[5:-2]!r}")
            if not re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9]+)+", code):
                raise self._error(option, f"{code!r} is not an Octopus product code like AGILE-24-10-01")
        return codes

    def subset(self, option: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
        chosen = self.items(option)
        for item in chosen:
            if item not in allowed:
                raise self._error(option, f"unknown tag {item!r} (available: {', '.join(allowed)})")
        return chosen

    def tags(self, option: str) -> dict[str, str]:
        """`key=value` tags added to every point: they must not reuse a name the pipeline writes itself, and
        backslashes and double quotes would not survive line protocol's escaping or a v2 delete predicate."""
        tags = self.mapping(option)
        for key, value in tags.items():
            if key in schema.WRITTEN_NAMES:
                raise self._error(
                    option, f"{key!r} is a tag or field the pipeline writes itself; pick another name"
                )
            if "\\" in key + value or '"' in key + value:
                raise self._error(option, f"{key}={value!r}: backslashes and double quotes are not allowed")
            if any(character in key + value for character in "\n\r\t"):
                raise self._error(option, f"{key}={value!r}: line breaks and tabs are not allowed")
        return tags

    def mapping(self, option: str, allowed_values: tuple[str, ...] | None = None) -> dict[str, str]:
        pairs = {}
        for item in self.items(option):
            key, sep, value = (part.strip() for part in item.partition("="))
            if not sep or not key or not value:
                raise self._error(option, f"{item!r} is not a key=value pair")
            if allowed_values and value.upper() not in allowed_values:
                raise self._error(option, f"{value!r} for {key} is not one of {', '.join(allowed_values)}")
            pairs[key] = value.upper() if allowed_values else value
        return pairs
