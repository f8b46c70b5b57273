# The benchmarks reuse the test fixtures: a private InfluxDB, the simulator, a config file.
from octograph_pipeline_tests.conftest import *  # noqa: F403
