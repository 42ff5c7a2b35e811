"""Errors that end in a one-line message to the user, never a traceback."""


class SensorError(Exception):
    """An operational error: the message says what happened and what to do."""


class CaptureError(SensorError):
    """A capture could not be read (to the end): results up to the damage stay valid."""


class ConfigError(SensorError):
    """The configuration file is invalid; the message names the line and the problem."""
