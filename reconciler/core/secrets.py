"""A value that must never be shown: passwords, registry tokens, identity tokens; and which
pull secret names a namespace uses (names only: the contents never enter the repo).

Owns: :class:`Secret`, a wrapper whose ``str``, ``repr`` and ``format`` are redacted, which
refuses to be pickled or JSON-serialised by accident, and whose value is read only through
:meth:`Secret.reveal` at the one place that needs it (building an ``Authorization`` header).

Must not: do I/O. Pure, like the rest of ``reconciler.core``.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NoReturn

__all__ = ["REDACTED", "PullSecretLinks", "Secret", "parse_pull_secret_links"]

REDACTED = "***"


class Secret:
    """A secret string. Printing, logging or formatting it shows ``***``.

    ``reveal()`` returns the value; call it only where the value leaves the process for its
    rightful destination. Equality is constant-time; a secret is truthy when non-empty.
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The value. Call it only where the value leaves for its rightful destination (an
        ``Authorization`` header), and never log or print what it returns."""
        return self._value

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        raise TypeError("the length of a Secret is not disclosed")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError("a Secret cannot be serialised")


# -- which pull secrets a namespace uses (the equivalent of ``oc secrets link``) -------------


@dataclass(frozen=True)
class PullSecretLinks:
    """Which pull secret names each namespace's imports may use, in order.

    The repo says only the *names* (as ``oc secrets link default quay-pull --for=pull``
    records them on a service account); the secrets' contents stay on the server, in the
    pull-secret directory the operator configures.
    """

    links: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def for_namespace(self, namespace: str) -> tuple[str, ...]:
        """The pull secret names linked to ``namespace``, in order; empty when none."""
        return tuple(self.links.get(namespace, ()))


_NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


def parse_pull_secret_links(
    value: object, where: str = "pullSecrets"
) -> tuple[PullSecretLinks, list[str]]:
    """Read the repo config's ``pullSecrets`` and return the links and problems found.

    Two shapes are accepted: a mapping ``{namespace: [secret, ...]}``, or a list of
    ServiceAccount-like objects ``{metadata: {namespace, name}, imagePullSecrets: [{name}]}``
    (what ``oc get sa -o yaml`` shows after ``oc secrets link``). Names must be DNS-1123
    subdomains; a problem names the entry, never anything else.
    """
    problems: list[str] = []
    links: dict[str, list[str]] = {}

    def add(namespace: object, name: object, at: str) -> None:
        if not isinstance(namespace, str) or not _NAME_RE.fullmatch(namespace):
            problems.append(f"{at}: invalid namespace {namespace!r}")
            return
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            problems.append(f"{at}: invalid secret name {name!r}")
            return
        names = links.setdefault(namespace, [])
        if name not in names:
            names.append(name)

    if isinstance(value, Mapping):
        for namespace, names in value.items():
            if not isinstance(names, list):
                problems.append(f"{where}.{namespace}: must be a list of secret names")
                continue
            for index, name in enumerate(names):
                add(namespace, name, f"{where}.{namespace}[{index}]")
    elif isinstance(value, list):
        for index, account in enumerate(value):
            at = f"{where}[{index}]"
            metadata = account.get("metadata") if isinstance(account, Mapping) else None
            secrets = account.get("imagePullSecrets") if isinstance(account, Mapping) else None
            if not isinstance(metadata, Mapping) or not isinstance(secrets, list):
                problems.append(f"{at}: needs metadata.namespace and imagePullSecrets")
                continue
            for s_index, ref in enumerate(secrets):
                name = ref.get("name") if isinstance(ref, Mapping) else ref
                add(metadata.get("namespace"), name, f"{at}.imagePullSecrets[{s_index}]")
    elif value is not None:
        problems.append(f"{where}: must be a mapping of namespace to secret names")
    return PullSecretLinks({ns: tuple(names) for ns, names in links.items()}), problems
