"""The one error type users see: the CLI turns it into a one-line message and exit code 2."""


class NamegenError(ValueError):
    """Bad input from the user (a file, an argument, a checkpoint), with a message that says what to do."""
