"""The seed's INI options: defaults, every option, and errors that name the section and option."""

import configparser
import datetime as dt

import pytest

from octograph_pipeline.config import load_settings, parse_settings
from octograph_pipeline.core.schema import INCLUDED_TAGS as AVAILABLE_TAGS
from octograph_pipeline.core.settings import ConfigError


def parse(text: str):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parse_settings(parser)


def test_defaults_match_the_seed_with_cache_off(monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "/home/me/.cache")
    settings = parse("[octopus]\naccount_number = A-1234ABCD\n")
    influx, octopus = settings.influxdb, settings.octopus
    assert (influx.url, influx.org, influx.bucket) == ("http://localhost:8086", "primary", "primary")
    assert influx.token_env_var == "OCTOGRAPH_INFLUXDB_TOKEN"
    assert influx.api_version == 2
    assert influx.included_tags == () and influx.additional_tags == {}
    assert octopus.timezone == "Europe/London"
    assert octopus.payment_method == "DIRECT_DEBIT"
    assert (octopus.unit_rate_low_start, octopus.unit_rate_low_end) == (dt.time(1), dt.time(8))
    assert octopus.low_rate_tz.key == "Europe/London"
    assert octopus.calorific_values == {}
    assert octopus.gas_meter_types == {}
    assert (octopus.volume_correction_factor, octopus.calorific_value) == (1.02264, 38.8)
    assert octopus.resolution_minutes == 30
    assert octopus.api_prefix == "https://api.octopus.energy/v1"
    assert octopus.api_key_env_var == "OCTOGRAPH_OCTOPUS_API_KEY"
    assert octopus.enable_cache is False
    assert octopus.cache_dir == "/home/me/.cache/octograph"  # this user's, not /tmp
    assert octopus.included_meters == ()
    assert settings.pipeline.start_date == dt.date(2024, 1, 1)
    # Carbon is off, so an existing user's file writes nothing new.
    carbon = settings.carbon
    assert (carbon.enabled, carbon.api_prefix) == (False, "https://api.carbonintensity.org.uk")
    assert carbon.gas_kg_co2e_per_kwh == 0.18231


def test_every_option_is_read():
    settings = parse(f"""
[influxdb]
url = http://influx:8086/
org = home
bucket = energy
token_env_var = MY_TOKEN
api_version = 1
included_tags = {",".join(AVAILABLE_TAGS)}
additional_tags = location=Home, owner=me
[octopus]
account_number = A-1234ABCD
timezone = Europe/Paris
payment_method = non_direct_debit
unit_rate_low_start = 00:30
unit_rate_low_end = 7:30
unit_rate_low_timezone = UTC
gas_meter_types = G4P1=SMETS2,E6S2=smets1
volume_correction_factor = 1.01
calorific_value = 39.5
resolution_minutes = 60
api_prefix = http://localhost:9999/v1
api_key_env_var = MY_KEY
enable_cache = true
cache_dir = /var/cache/octo
included_meters = 21E1, G4P1
[pipeline]
start_date = 2023-05-01
[carbon]
enabled = true
api_prefix = http://localhost:9998/carbon/
gas_kg_co2e_per_kwh = 0.2
""")
    influx, octopus = settings.influxdb, settings.octopus
    assert influx.url == "http://influx:8086" and influx.org == "home" and influx.bucket == "energy"
    assert influx.token_env_var == "MY_TOKEN" and influx.api_version == 1
    assert influx.included_tags == AVAILABLE_TAGS
    assert influx.additional_tags == {"location": "Home", "owner": "me"}
    assert octopus.timezone == "Europe/Paris" and octopus.payment_method == "NON_DIRECT_DEBIT"
    assert (octopus.unit_rate_low_start, octopus.unit_rate_low_end) == (dt.time(0, 30), dt.time(7, 30))
    assert octopus.low_rate_tz.key == "UTC"
    assert octopus.gas_meter_types == {"G4P1": "SMETS2", "E6S2": "SMETS1"}
    assert (octopus.volume_correction_factor, octopus.calorific_value) == (1.01, 39.5)
    assert octopus.resolution_minutes == 60 and octopus.api_prefix == "http://localhost:9999/v1"
    assert octopus.api_key_env_var == "MY_KEY" and octopus.enable_cache and octopus.cache_dir == "/var/cache/octo"
    assert octopus.included_meters == ("21E1", "G4P1")
    assert settings.pipeline.start_date == dt.date(2023, 5, 1)
    assert settings.carbon.enabled and settings.carbon.api_prefix == "http://localhost:9998/carbon"
    assert settings.carbon.gas_kg_co2e_per_kwh == 0.2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[octopus]\n", r"\[octopus\] account_number: is required"),
        (
            "[octopus]\naccount_number=A-1234ABCD\nresolution_minutes = 45\n",
            r"\[octopus\] resolution_minutes: '45'",
        ),
        ("[octopus]\naccount_number=A-1234ABCD\nresolution_minutes = half\n", r"\[octopus\] resolution_minutes"),
        (
            "[octopus]\naccount_number=A-1234ABCD\ntimezone = Mars/Olympus\n",
            r"\[octopus\] timezone: 'Mars/Olympus'",
        ),
        ("[octopus]\naccount_number=A-1234ABCD\npayment_method = CASH\n", r"\[octopus\] payment_method: 'CASH'"),
        ("[octopus]\naccount_number=A-1234ABCD\nunit_rate_low_start = 24\n", r"\[octopus\] unit_rate_low_start"),
        (
            "[octopus]\naccount_number=A-1234ABCD\nunit_rate_low_end = 07:15\n",
            r"\[octopus\] unit_rate_low_end: '07:15'",
        ),
        (
            "[octopus]\naccount_number=A-1234ABCD\nunit_rate_low_timezone = Moon\n",
            r"\[octopus\] unit_rate_low_timezone",
        ),
        ("[octopus]\naccount_number=A-1234ABCD\ncalorific_value = -1\n", r"\[octopus\] calorific_value"),
        ("[octopus]\naccount_number=A-1234ABCD\nenable_cache = maybe\n", r"\[octopus\] enable_cache"),
        ("[octopus]\naccount_number=A-1234ABCD\ngas_meter_types = G1=SMETS3\n", r"\[octopus\] gas_meter_types"),
        (
            "[octopus]\naccount_number=A-1234ABCD\n[influxdb]\nincluded_tags = colour\n",
            r"\[influxdb\] included_tags: unknown tag",
        ),
        (
            "[octopus]\naccount_number=A-1234ABCD\n[influxdb]\nadditional_tags = location\n",
            r"\[influxdb\] additional_tags",
        ),
        ("[octopus]\naccount_number=A-1234ABCD\n[influxdb]\napi_version = 3\n", r"\[influxdb\] api_version"),
        ("[octopus]\naccount_number=A-1234ABCD\n[influxdb]\nurll = x\n", r"\[influxdb\] urll: unknown option"),
        ("[octopus]\naccount_number=A-1234ABCD\n[pipeline]\nstart_date = 1/2/2024\n", r"\[pipeline\] start_date"),
    ],
)
def test_bad_options_name_section_and_option(text, message):
    with pytest.raises(ConfigError, match=message):
        parse(text)


def test_missing_file_and_env_var(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.ini")
    path = tmp_path / "octograph.ini"
    path.write_text("[octopus]\naccount_number = A-1234ABCD\napi_key_env_var = OCTO_KEY_FOR_TEST\n")
    monkeypatch.setenv("OCTOGRAPH_CONFIG", str(path))
    settings = load_settings()
    monkeypatch.delenv("OCTO_KEY_FOR_TEST", raising=False)
    with pytest.raises(ConfigError, match=r"\[octopus\] api_key_env_var: environment variable OCTO_KEY_FOR_TEST"):
        settings.octopus.api_key()
    monkeypatch.setenv("OCTO_KEY_FOR_TEST", "sk_live_x")
    assert settings.octopus.api_key() == "sk_live_x"
    assert "sk_live_x" not in repr(settings)


def test_calorific_value_file(tmp_path):
    (tmp_path / "cv.csv").write_text("Applicable For,Value\n01/01/2024,39.1\n2024-01-02,39.4\n\n")
    path = tmp_path / "octograph.ini"
    path.write_text("[octopus]\naccount_number = A-1234ABCD\ncalorific_value_file = cv.csv\n")
    assert load_settings(path).octopus.calorific_values == {dt.date(2024, 1, 1): 39.1, dt.date(2024, 1, 2): 39.4}
    (tmp_path / "cv.csv").write_text("2024-01-01,391\n")
    with pytest.raises(ConfigError, match=r"\[octopus\] calorific_value_file: .*cv.csv line 1: 391.0 MJ"):
        load_settings(path)
    (tmp_path / "cv.csv").write_text("2024-01-01;39.1\n")
    with pytest.raises(ConfigError, match=r"line 1: '2024-01-01;39.1' is not `date,value`"):
        load_settings(path)
    path.write_text("[octopus]\naccount_number = A-1234ABCD\ncalorific_value_file = missing.csv\n")
    with pytest.raises(ConfigError, match=r"calorific_value_file: cannot read"):
        load_settings(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[influxdb]\nadditional_tags = fuel=solar\n", r"\[influxdb\] additional_tags: 'fuel' is a tag or field"),
        ("[influxdb]\nadditional_tags = tariff_code=x\n", r"'tariff_code' is a tag or field the pipeline writes"),
        ("[influxdb]\nadditional_tags = location=back\\\n", r"backslashes and double quotes are not allowed"),
        ("[InfluxDB]\nurl = http://x\n", r"\[InfluxDB\]: unknown section"),
        ("[influxdb]\nadditional_tags = location=Home\n  Office\n", r"line breaks and tabs are not allowed"),
        (
            "[influxdb]\nurl = localhost:8086\n",
            r"\[influxdb\] url: 'localhost:8086' is not an http:// or https://",
        ),
        ("[influxdb]\nurl = ftp://influx\n", r"\[influxdb\] url: 'ftp://influx' is not an http"),
        ("[influxdb]\nurl = http://admin:pw@influx:8086\n", r"\[influxdb\] url: holds credentials: put them in"),
        ("[carbon]\nenabled = yes please\n", r"\[carbon\] enabled: 'yes please' is not true or false"),
        ("[carbon]\napi_prefix = api.carbonintensity.org.uk\n", r"\[carbon\] api_prefix: 'api.carbonintensity"),
        ("[carbon]\napi_prefix = https://u:p@api.carbonintensity.org.uk\n", r"holds credentials: it needs none"),
        (
            "[carbon]\ngas_kg_co2e_per_kwh = 183\n",
            r"\[carbon\] gas_kg_co2e_per_kwh: '183' is not a number from 0.1",
        ),
        ("[carbon]\nregion = 13\n", r"\[carbon\] region: unknown option"),
        ("[octopus]\napi_prefix = api.octopus.energy/v1\n", r"\[octopus\] api_prefix: 'api.octopus.energy/v1'"),
        (
            "[octopus]\napi_prefix = https://sk_live_x:@api.octopus.energy/v1\n",
            r"\[octopus\] api_prefix: holds credentials: put them in the variable named by \[octopus\] api_key",
        ),
        # Numbers that cannot be true, and empty values that would silently mean the default.
        (
            "[octopus]\nvolume_correction_factor = inf\n",
            r"volume_correction_factor: 'inf' is not a number from 0.9 to 1.1",
        ),
        (
            "[octopus]\nvolume_correction_factor = nan\n",
            r"volume_correction_factor: 'nan' is not a number from 0.9",
        ),
        ("[octopus]\nvolume_correction_factor = 10\n", r"volume_correction_factor: '10' is not a number from 0.9"),
        (
            "[octopus]\ncalorific_value = 1e308\n",
            r"\[octopus\] calorific_value: '1e308' is not a number from 30 to 50",
        ),
        ("[octopus]\ncalorific_value = 0\n", r"\[octopus\] calorific_value: '0' is not a number from 30 to 50"),
        ("[pipeline]\napi_backoff_seconds = -inf\n", r"\[pipeline\] api_backoff_seconds: '-inf' is not a number"),
        ("[influxdb]\nbucket =\n", r"\[influxdb\] bucket: is empty: give a value, or remove the line"),
        ("[octopus]\napi_key_env_var =\n", r"\[octopus\] api_key_env_var: is empty"),
        ("[octopus]\ntimezone =\n", r"\[octopus\] timezone: is empty"),
        ("[pipeline]\nretries =\n", r"\[pipeline\] retries: is empty"),
        (
            "[octopus]\nunit_rate_low_start = 1\nunit_rate_low_end = 01:00\n",
            r"unit_rate_low_end: equals unit_rate_low_start",
        ),
    ],
)
def test_settings_that_would_corrupt_data_are_refused(text, message):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string("[octopus]\naccount_number = A-1234ABCD\n" + text.replace("[octopus]\n", ""))
    with pytest.raises(ConfigError, match=message):
        parse_settings(parser)


@pytest.mark.parametrize("number", ["A-1", "12345678", "A-1234ABCD5", "B-1234ABCD", "A_1234ABCD"])
def test_account_numbers_are_checked(number):
    with pytest.raises(ConfigError, match=rf"\[octopus\] account_number: '{number}' is not an Octopus account"):
        parse(f"[octopus]\naccount_number = {number}\n")
    assert parse("[octopus]\naccount_number = a-1234abcd\n").octopus.account_number == "A-1234ABCD"


def test_a_config_file_that_is_not_utf8_is_one_clear_error(tmp_path):
    path = tmp_path / "octograph.ini"
    path.write_bytes(
        "[octopus]\naccount_number = A-1234ABCD\n[influxdb]\nadditional_tags = town=Br\xfcck\n".encode("latin-1")
    )
    with pytest.raises(ConfigError, match=r"octograph.ini is not UTF-8 text \(byte \d+\): save it as UTF-8"):
        load_settings(path)


def test_secrets_in_the_environment_are_checked_when_read(monkeypatch):
    settings = parse("[octopus]\naccount_number = A-1234ABCD\n[influxdb]\napi_version = 1\n")
    monkeypatch.setenv("OCTOGRAPH_OCTOPUS_API_KEY", "  ")
    with pytest.raises(ConfigError, match="OCTOGRAPH_OCTOPUS_API_KEY is empty"):
        settings.octopus.api_key()
    monkeypatch.setenv("OCTOGRAPH_INFLUXDB_TOKEN", "just-a-token")
    with pytest.raises(ConfigError, match="OCTOGRAPH_INFLUXDB_TOKEN must hold username:password for InfluxDB 1.x"):
        settings.influxdb.token()
    monkeypatch.setenv("OCTOGRAPH_INFLUXDB_TOKEN", "reader:s3cret")
    assert settings.influxdb.token() == "reader:s3cret"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("account_number = A-1234ABCD\n", "is not a valid INI file: File contains no section headers (line 1)"),
        ("[octopus]\n[octopus]\n", "section 'octopus' already exists (line 2)"),
        ("[octopus]\n  x\n", r"'  x\n' is neither a [section] nor an option = value (line 2)"),
    ],
)
def test_a_malformed_ini_file_is_one_line_naming_the_line(tmp_path, text, message):
    path = tmp_path / "octograph.ini"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert message in str(error.value) and "\n" not in str(error.value)
