"""The ``reconciler`` command line, an entry point: flags into one Settings object, one
verb per module in ``verbs/``, one error type and one exit-code table."""
