"""Command-line flags every verb that talks to registries shares, and how they become
one Settings object and one registry client. Used by ``reconciler.cli.main`` and by the verbs
in ``reconciler.cli.verbs``, so that every verb takes the same flags with the same
meaning."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from typing import TYPE_CHECKING

from reconciler.core.errors import ConfigurationError

# Imported when a verb runs, not when the parser is built: ``--help`` and ``validate``
# must not load the HTTP stack (see tests/test_startup.py).
if TYPE_CHECKING:
    from reconciler.config.settings import Settings
    from reconciler.registry.client import RegistryClient


def add_registry_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("registries and credentials")
    group.add_argument(
        "--registries-conf",
        metavar="FILE",
        help="registries.conf (v2) to use, with its registries.conf.d/ (default: "
        "$CONTAINERS_REGISTRIES_CONF, ~/.config/containers/registries.conf, "
        "/etc/containers/registries.conf)",
    )
    group.add_argument(
        "--authfile",
        action="append",
        metavar="FILE",
        help="Docker config.json or containers auth.json to take credentials from "
        "(repeatable; default: $REGISTRY_AUTH_FILE, the containers auth.json locations, "
        "~/.docker/config.json)",
    )
    group.add_argument(
        "--pull-secrets-dir",
        metavar="DIR",
        help="directory of kubernetes.io/dockerconfigjson secrets (never in the repo; "
        "default: $RECONCILER_PULL_SECRETS_DIR)",
    )
    group.add_argument(
        "--allowed-registries-for-import",
        metavar="FILE",
        help="YAML/JSON list of {domainName, insecure}: imports from other registries are "
        "validation errors (default: $RECONCILER_ALLOWED_REGISTRIES; unset allows all)",
    )
    group.add_argument(
        "--platform", metavar="OS/ARCH", help="platform importMode Legacy pins (linux/amd64)"
    )
    group.add_argument(
        "--concurrency", type=int, metavar="N", help="registry requests at once (16)"
    )
    group.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="total deadline of each registry request: connect, headers and body, "
        "token and redirects included; each retry has its own (10)",
    )
    group.add_argument(
        "--registry-concurrency",
        type=int,
        metavar="N",
        help="requests in flight to any one registry (default: --concurrency)",
    )
    group.add_argument(
        "--registry-rate",
        type=float,
        metavar="PER_SECOND",
        help="request starts per second to any one registry (default: no cap)",
    )
    group.add_argument(
        "--tag-list-budget",
        type=int,
        metavar="N",
        help="tag-list page requests to any one registry per pass; once spent, cached lists "
        "are used and a note says so (default: $RECONCILER_TAG_LIST_BUDGET, 100)",
    )
    group.add_argument(
        "--tag-list-max-age",
        type=float,
        metavar="SECONDS",
        help="how long a cached tag list page is used before it is asked again (then "
        "conditionally, if the registry sent an ETag or Last-Modified); 0: every run asks "
        "(default: $RECONCILER_TAG_LIST_MAX_AGE, 0)",
    )
    group.add_argument("--ca-bundle", metavar="FILE", help="CA certificates to trust for TLS")
    group.add_argument(
        "--signature-key",
        action="append",
        metavar="NAME=FILE",
        help="a public key (PEM) the signed-image gate may verify with, under NAME "
        "(repeatable; default: $RECONCILER_SIGNATURE_KEYS, NAME=FILE,...); the repo says "
        "which tags require which key names",
    )
    group.add_argument(
        "--cache-dir", metavar="DIR", help="where clones live (~/.cache/imagestream-reconciler)"
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    from reconciler.config.settings import load_settings

    return load_settings(
        os.environ,
        registries_conf=getattr(args, "registries_conf", None),
        platform=getattr(args, "platform", None),
        concurrency=getattr(args, "concurrency", None),
        timeout=getattr(args, "timeout", None),
        cache_dir=getattr(args, "cache_dir", None),
        ca_bundle=getattr(args, "ca_bundle", None),
        auth_files=getattr(args, "authfile", None),
        pull_secrets_dir=getattr(args, "pull_secrets_dir", None),
        allowed_registries=getattr(args, "allowed_registries_for_import", None),
        registry_concurrency=getattr(args, "registry_concurrency", None),
        registry_rate=getattr(args, "registry_rate", None),
        signature_keys=_signature_keys(getattr(args, "signature_key", None)),
        tag_list_budget=getattr(args, "tag_list_budget", None),
        tag_list_max_age=getattr(args, "tag_list_max_age", None),
    )


def _signature_keys(items: list[str] | None) -> dict[str, str] | None:
    """``--signature-key NAME=FILE`` flags as {name: file}."""
    if not items:
        return None
    out: dict[str, str] = {}
    for item in items:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise ConfigurationError(f"--signature-key {item!r}: expected NAME=FILE")
        out[name] = file
    return out


def client_from_settings(settings: Settings) -> RegistryClient:
    """The verb's client. Its tag-list cache lives on disk under the cache dir (read when
    first used, written when the client closes): one run of a verb is one pass."""
    from reconciler.passes.clients import registry_client, tag_list_file

    return registry_client(settings, tag_list_file=tag_list_file(settings))


def add_repo_flags(parser: argparse.ArgumentParser, *, all_namespaces: bool = False) -> None:
    parser.add_argument(
        "--repo", default=".", metavar="PATH", help="the checkout to work in (default: .)"
    )
    parser.add_argument(
        "-n",
        "--namespace",
        metavar="NS",
        help="namespace (default: the repo's defaultNamespace in .reconciler.yaml)",
    )
    if all_namespaces:
        parser.add_argument(
            "-A", "--all-namespaces", action="store_true", help="every namespace in the repo"
        )
    # For tests and reproducible output: the time "now" is taken as (RFC 3339).
    parser.add_argument("--now", help=argparse.SUPPRESS)


def add_import_policy_flags(parser: argparse.ArgumentParser) -> None:
    """A registry tag's import policy, as ``import-image`` and ``tag`` set it."""
    parser.add_argument(
        "--scheduled",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="re-check a registry image periodically (importPolicy.scheduled)",
    )
    parser.add_argument(
        "--insecure",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="use plain HTTP for this registry (importPolicy.insecure; TLS is always verified)",
    )
    parser.add_argument(
        "--reference-policy",
        choices=["source", "local", "Source", "Local"],
        help="referencePolicy.type of the tag (default Source)",
    )
    parser.add_argument(
        "--import-mode",
        choices=["Legacy", "PreserveOriginal"],
        help="pin the platform image (Legacy) or the whole index (PreserveOriginal)",
    )


def reference_policy(args: argparse.Namespace) -> str | None:
    """``--reference-policy`` as the manifest spells it (``Source``, ``Local``)."""
    text = getattr(args, "reference_policy", None)
    return str(text).capitalize() if text else None


def add_commit_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--commit", action="store_true", help="commit the files written (git, in the checkout)"
    )


def now_of(args: argparse.Namespace) -> dt.datetime:
    text = getattr(args, "now", None)
    if not text:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigurationError(f"--now {text!r}: not an RFC 3339 time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
