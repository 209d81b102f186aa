"""OpenShift's ``allowedRegistriesForImport``: which registries imports may come from,
and whether insecure (plain HTTP) imports are allowed from each. Pure: entries in, a
verdict out; reading the file is the configuration shell's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.core.references import ImageReference
from reconciler.core.registries import RegistriesConf, RegistriesConfError


@dataclass(frozen=True)
class AllowedRegistry:
    """One entry of OpenShift's ``allowedRegistriesForImport``.

    ``domain_name`` is a host, ``*.example.com`` for its subdomains, or ``host:port`` for a
    registry on a non-standard port; ``insecure`` permits imports with
    ``importPolicy.insecure: true`` from it.
    """

    domain_name: str
    insecure: bool = False


def parse_allowed_registries(
    value: object, where: str = "allowedRegistriesForImport"
) -> tuple[AllowedRegistry, ...]:
    """``[{domainName: quay.io, insecure: false}, ...]`` as OpenShift writes it."""
    if not isinstance(value, list):
        raise RegistriesConfError(f"{where}: must be a list")
    out: list[AllowedRegistry] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("domainName"), str):
            raise RegistriesConfError(f"{where}[{index}]: needs a domainName")
        domain = item["domainName"].strip().lower()
        insecure = item.get("insecure", False)
        if not domain or "/" in domain or not isinstance(insecure, bool):
            raise RegistriesConfError(f"{where}[{index}]: invalid entry {item!r}")
        out.append(AllowedRegistry(domain, insecure))
    return tuple(out)


def _host_port(registry: str) -> tuple[str, str | None]:
    host = registry.lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1], (host[end + 2 :] or None) if end + 1 < len(host) else None
    name, _, port = host.partition(":")
    return name, port or None


def _domain_matches(entry: AllowedRegistry, registry: str, insecure: bool) -> bool:
    want_host, want_port = _host_port(entry.domain_name)
    host, port = _host_port(registry)
    if _is_docker_hub(want_host) and _is_docker_hub(host):
        host = want_host
    if want_host.startswith("*."):
        host_ok = host.endswith(want_host[1:]) and len(host) > len(want_host) - 1
    else:
        host_ok = host == want_host
    if not host_ok:
        return False
    if want_port is None:
        # No port: the standard one (443, or 80 for an insecure import).
        return port is None or port == "443" or (insecure and port == "80")
    return port == want_port


def _is_docker_hub(host: str) -> bool:
    return host in ("docker.io", "index.docker.io", "registry-1.docker.io")


def check_import_allowed(
    reference: ImageReference, insecure: bool, allowed: Sequence[AllowedRegistry] | None
) -> str | None:
    """``None`` when ``reference`` may be imported, else the reason (a validation error).

    ``allowed`` ``None`` means no allow-list. An unqualified ``reference`` is judged by the
    caller per search candidate (see :func:`allowed_candidates`).
    """
    if allowed is None:
        return None
    if reference.registry is None:
        return None
    for entry in allowed:
        if _domain_matches(entry, reference.registry, insecure):
            if insecure and not entry.insecure:
                return (
                    f"{reference.registry} is in allowedRegistriesForImport but not for "
                    "insecure imports (importPolicy.insecure is set)"
                )
            return None
    names = ", ".join(e.domain_name for e in allowed) or "nothing"
    return (
        f"importing from {reference.registry} is not allowed (allowedRegistriesForImport: {names})"
    )


def allowed_candidates(
    conf: RegistriesConf,
    reference: ImageReference,
    insecure: bool,
    allowed: Sequence[AllowedRegistry] | None,
) -> tuple[list[ImageReference], list[str]]:
    """The qualified names to try for ``reference`` that the allow-list permits, and the
    reasons for those it does not. No candidate left is a validation error."""
    ok: list[ImageReference] = []
    refused: list[str] = []
    for candidate in conf.expand(reference):
        reason = check_import_allowed(candidate, insecure, allowed)
        if reason is None:
            ok.append(candidate)
        else:
            refused.append(reason)
    return ok, refused
