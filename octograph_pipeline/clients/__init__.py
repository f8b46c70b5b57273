"""I/O without Dagster: the Octopus REST client, the Kraken GraphQL client and the InfluxDB store. They know
nothing of runs or partitions."""
