"""Command-line flags every verb that talks to registries shares, and how they become
one Settings object and one registry client. Used by ``reconciler.cli.main`` and by the verbs
in ``reconciler.cli.verbs``, so that every verb takes the same flags with the same
meaning."""

from __future__ import annotations

import argparse
import os

from reconciler.config.settings import Settings, load_settings, registry_client
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
    group.add_argument("--timeout", type=float, metavar="SECONDS", help="per request (10)")
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
    group.add_argument("--ca-bundle", metavar="FILE", help="CA certificates to trust for TLS")
    group.add_argument(
        "--cache-dir", metavar="DIR", help="where clones live (~/.cache/imagestream-reconciler)"
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
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
    )


def client_from_settings(settings: Settings) -> RegistryClient:
    return registry_client(settings)
