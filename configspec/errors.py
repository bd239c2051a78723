"""The one exception a user can meet: it carries a one-line message that says what and how to fix."""


class ConfigspecError(Exception):
    """A problem with the user's input or environment (never a bug): shown as one line, exit 2."""

    exit_code = 2
