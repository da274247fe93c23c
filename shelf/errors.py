"""The two ways a command fails, matching the CLI's exit codes."""


class UsageProblem(Exception):
    """Bad input or a missing precondition (exit 2): the message names the problem and the fix."""

    exit_code = 2
    details = ""  # lines printed before the message, e.g. every bad line of an input file


class OperationFailed(Exception):
    """The operation itself failed (exit 1): the message says which step and why."""

    exit_code = 1

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details
