"""Test and demo tooling shared by ``tests/``, ``bench/`` and ``scripts/``: a throwaway local
registry, an image pusher, auth helpers (htpasswd, a token server, a test CA) and a daemon
launcher with crash points for the kill tests.

Not part of the product: the wheel ships ``reconciler`` only, and nothing in ``reconciler/``
imports this package (``tests/test_architecture.py`` checks both). It is importable in a
development environment because the editable install (``scripts/setup``) puts the checkout
root on ``sys.path``; its extra dependencies (``cryptography``, ``bcrypt``) are in the
``dev`` extra. One idea per module, imported by module path (``testsupport.images``).
"""
