"""The registry shell: talks the OCI distribution protocol over httpx.

Owns, one idea per module: ``client`` (the :class:`RegistryClient` facade), ``transport``
(sending: limits, retries, redirects, size caps), ``deadlines`` (the total deadline of
a request, enforced on the socket), ``auth`` (challenges and tokens as an
``httpx.Auth`` flow), ``manifests`` (what bodies mean), ``models`` and ``targets`` (plain
values), ``errors`` (reasons), ``limits`` (per-host gates), ``credentials`` (where
credentials come from), ``media_types`` and ``resolver`` (import requests to outcomes).

Must not: be imported by ``reconciler.core`` (the pure core takes data, never a client).
"""

import sys

# httpx's own command-line client (httpx._main) imports click, rich and pygments unless it
# is absent: about 15 MiB and 80 ms of every pass, for a module we never run. Marking it
# absent before httpx is first imported makes httpx define its stub instead.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
