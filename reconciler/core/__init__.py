"""The pure core: data in, data out. Owns the model and the decisions: manifests, image
references, validation, the resolution plan, the lockfile, trigger records, schedules and
the views the verbs print.

Must not touch the network, git, the filesystem, ``os.environ`` or the clock (callers pass
``now``), nor import a shell or an entry point: import-linter's ``core-is-pure`` contract
(pyproject.toml) and tests/test_architecture.py check it."""
