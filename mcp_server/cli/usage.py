"""The one exception for a mistake on the command line: `main` prints it as one line and exits 2."""


class UsageError(Exception):
    """The command line cannot be run as typed; the message says what to type instead."""
