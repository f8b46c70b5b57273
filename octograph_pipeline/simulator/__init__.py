"""A local stand-in for the Octopus Energy REST API, with synthetic household data and fault knobs."""

from octograph_pipeline.simulator.app import OctopusSimulator
from octograph_pipeline.simulator.household import Household, default_household
from octograph_pipeline.simulator.server import serve

__all__ = ["Household", "OctopusSimulator", "default_household", "serve"]
