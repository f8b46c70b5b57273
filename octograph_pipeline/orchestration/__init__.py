"""The Dagster wiring: assets, the InfluxDB IO manager, resources, partitions, jobs, schedules and sensors, runs,
the instance's storages, the daemon, and (in `compat`) the only uses of Dagster's private modules. Thin: it
fetches through `clients`, hands frames to `core`, and returns."""
