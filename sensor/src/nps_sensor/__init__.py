"""nps-sensor: the passive network sensor's engine, service and command line."""

__version__ = "0.1.0"
