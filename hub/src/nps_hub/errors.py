"""Errors that end in one line to the user (the CLI) or one JSON `detail` (the API)."""


class HubError(Exception):
    """An operational error: the message says what happened and what to do."""
