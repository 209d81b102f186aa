"""The one exception tree of the program. Every layer raises a subclass of
:class:`ReconcilerError` for what it cannot do, and the two entry points act on the
branch, never on a hand-picked list of classes:

    ReconcilerError            something the program reports, then acts on by its branch
    ├── ConfigurationError     the operator's input is wrong (flags, environment, config
    │                          files): the CLI exits 2, the daemon refuses to start
    ├── PermanentError         this input fails the same way until it changes (an
    │                          unreadable lockfile, a push a hook refuses, a verb asked for
    │                          what cannot be): the daemon stalls until the input changes
    └── TransientError         may succeed later with nothing changed (a remote or a
                               registry down, a push race that did not settle): the daemon
                               backs off with jitter and retries, resetting on success

Problems with one object or one tag are data (violations, failed conditions), not
exceptions: they never stop the rest of a pass. Library errors (git, httpx, OS) are
translated once, where the shell calls the library, and chained with ``from``.

Every layer imports this module, so it imports nothing.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PROBLEMS = 1  # something was invalid, skipped, not found or failed; the rest was done
EXIT_CANNOT_RUN = 2  # the command could not run
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader went away


class ReconcilerError(Exception):
    """A failure the program reports in one message. ``exit_code`` is what the CLI exits
    with (the exit-code table above); subclasses set whether a retry can help."""

    retryable = False
    exit_code = EXIT_CANNOT_RUN

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigurationError(ReconcilerError):
    """The operator's configuration is wrong. ``problems`` lists each one (file:line:
    message) when there are several; the message is their first line."""

    def __init__(
        self, message: str, *, problems: tuple[str, ...] = (), exit_code: int | None = None
    ) -> None:
        super().__init__(message, exit_code=exit_code)
        self.problems = problems or (message,)


class PermanentError(ReconcilerError):
    """Retrying with the same input fails the same way: wait for the input to change."""


class TransientError(ReconcilerError):
    """The same call may succeed later: retry with backoff."""

    retryable = True
