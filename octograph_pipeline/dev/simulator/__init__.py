"""A local stand-in for the Octopus Energy REST API, with synthetic household data and fault knobs."""

from octograph_pipeline.dev.simulator.app import OctopusSimulator
from octograph_pipeline.dev.simulator.household import (
    SCENARIOS,
    Agreement,
    Household,
    Meter,
    MeterPoint,
    Property,
    Register,
    all_scenarios,
    default_household,
    economy7_household,
    gaps_household,
    intelligent_household,
    moved_household,
    switch_household,
)
from octograph_pipeline.dev.simulator.server import serve

__all__ = [
    "SCENARIOS",
    "Agreement",
    "Household",
    "Meter",
    "MeterPoint",
    "OctopusSimulator",
    "Property",
    "Register",
    "all_scenarios",
    "default_household",
    "economy7_household",
    "gaps_household",
    "intelligent_household",
    "moved_household",
    "serve",
    "switch_household",
]
