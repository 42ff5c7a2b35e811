"""The management hub: registers sensors, relays quick actions and configuration, merges their reports."""

__version__ = "0.1.0"
