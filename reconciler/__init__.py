"""imagestream-reconciler: OpenShift image streams made GitOps.

The package is split into a pure core (``reconciler.core``: manifests, image references,
validation results, resolution plan, lockfile model, trigger derivation; no I/O) and thin
shells that do I/O (``reconciler.registry`` over httpx, ``reconciler.gitrepo.workspace`` over
GitPython, ``reconciler.files.loader`` for files, ``reconciler.cli.main``). ``reconciler.passes.run``
is the one module that knows both sides: it runs a pass as a sequence of steps.
"""

__version__ = "0.1.0"
