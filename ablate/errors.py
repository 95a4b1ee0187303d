"""The one error type that means "the user's input is wrong"; the CLI turns it into exit code 2."""


class UsageError(ValueError):
    """Bad input: a one-line message that says what is wrong and how to fix it."""
