#!/bin/bash
# Runs once, after the InfluxDB 2.x container's first setup: maps the bucket to an InfluxQL database of the
# same name, so the pipeline's reads and the Grafana dashboards (InfluxQL) work on 2.x as on 1.x.
set -euo pipefail
bucket_id=$(influx bucket list --name "${DOCKER_INFLUXDB_INIT_BUCKET}" --hide-headers | cut -f1)
influx v1 dbrp create --bucket-id "${bucket_id}" --db "${DOCKER_INFLUXDB_INIT_BUCKET}" --rp autogen --default
