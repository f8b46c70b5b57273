"""The pure core: local days, settings, the InfluxDB schema, Octopus's records and tariff codes, pricing, frames,
the comparison, checks and metadata. No I/O and no Dagster: everything here is tested without servers."""
