"""Pushing tiny but real images to a registry, and reading back what it reports.

Owns: building deterministic images (one config blob, one gzip tar layer, a manifest;
optionally one manifest per platform under an OCI image index or a Docker manifest list)
and uploading them over the plain distribution HTTP API with httpx; ``manifest_digest`` for
the digest a registry reports.

Must not: depend on docker or skopeo: tests compare what the resolver pins against the
digests returned here, which are checked against sha256 of the bytes sent.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from reconciler.core.platforms import Platform
from reconciler.registry.media_types import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    MANIFEST_ACCEPT,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical(document: Mapping[str, object]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _layer(seed: str) -> tuple[bytes, str]:
    """A deterministic gzip tar with one file; returns (compressed bytes, diff_id)."""
    content = f"seed={seed}\n".encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("seed.txt")
        info.size = len(content)
        info.mtime = 0
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(content))
    uncompressed = raw.getvalue()
    # mtime=0 keeps the gzip header, hence the layer digest, a function of the seed only.
    compressed = gzip.compress(uncompressed, mtime=0)
    return compressed, _sha256(uncompressed)


def _config(
    platform: Platform,
    diff_id: str,
    exposed_ports: Sequence[str] | None,
    labels: Mapping[str, str] | None,
) -> bytes:
    image_config: dict[str, object] = {"Env": ["PATH=/usr/bin:/bin"]}
    if exposed_ports:
        image_config["ExposedPorts"] = {port: {} for port in exposed_ports}
    if labels:
        image_config["Labels"] = dict(labels)
    document: dict[str, object] = {
        "architecture": platform.architecture,
        "os": platform.os,
        "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        # The module's old name, kept: it is part of every image's bytes, so changing it
        # would change every digest the golden files record.
        "history": [{"created_by": "reconciler.devregistry"}],
    }
    if platform.variant:
        document["variant"] = platform.variant
    return _canonical(document)


def _check(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code >= 300:
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")
    return response


def _upload_blob(client: httpx.Client, base: str, repository: str, data: bytes) -> str:
    digest = _sha256(data)
    if client.head(f"{base}/v2/{repository}/blobs/{digest}").status_code == 200:
        return digest
    started = _check(
        client.post(f"{base}/v2/{repository}/blobs/uploads/"), f"start upload to {repository}"
    )
    location = httpx.URL(base).join(started.headers["location"])
    finished = client.put(
        location.copy_merge_params({"digest": digest}),
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    _check(finished, f"upload blob {digest} to {repository}")
    return digest


def _put_manifest(
    client: httpx.Client, base: str, repository: str, reference: str, body: bytes, media_type: str
) -> str:
    response = _check(
        client.put(
            f"{base}/v2/{repository}/manifests/{reference}",
            content=body,
            headers={"Content-Type": media_type},
        ),
        f"put manifest {repository}:{reference}",
    )
    reported: str | None = response.headers.get("docker-content-digest")
    expected = _sha256(body)
    if reported != expected:
        raise RuntimeError(
            f"registry reported digest {reported} for {repository}:{reference}, "
            f"but the bytes sent hash to {expected}"
        )
    return expected


def _types(media_type: str) -> tuple[str, str, str, str]:
    """(manifest, config, layer, index) media types for one manifest flavour."""
    if media_type == OCI_MANIFEST:
        return OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP, OCI_INDEX
    if media_type == DOCKER_MANIFEST_V2:
        return DOCKER_MANIFEST_V2, DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST_LIST
    raise ValueError(f"media_type must be {OCI_MANIFEST} or {DOCKER_MANIFEST_V2}")


def _image_parts(
    *,
    seed: str,
    platform: Platform,
    media_type: str,
    exposed_ports: Sequence[str] | None,
    labels: Mapping[str, str] | None,
    annotations: Mapping[str, str] | None = None,
) -> tuple[list[bytes], bytes]:
    """The blobs (config, layer) and the manifest bytes of one single-platform image."""
    manifest_type, config_type, layer_type, _ = _types(media_type)
    layer, diff_id = _layer(seed)
    config = _config(platform, diff_id, exposed_ports, labels)
    document: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "digest": _sha256(config), "size": len(config)},
        "layers": [{"mediaType": layer_type, "digest": _sha256(layer), "size": len(layer)}],
    }
    if annotations and manifest_type == OCI_MANIFEST:
        document["annotations"] = dict(annotations)
    return [config, layer], _canonical(document)


def push_image(
    registry_url: str,
    repository: str,
    tag: str,
    *,
    seed: str,
    media_type: str = OCI_MANIFEST,
    platforms: Sequence[Platform] | None = None,
    exposed_ports: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    client: httpx.Client | None = None,
) -> str:
    """Push a tiny image as ``repository:tag``; return the manifest (or index) digest.

    Same ``seed`` gives the same digest, a different seed a different one. With
    ``platforms``, one manifest per platform is pushed by digest and an index (OCI image index
    for OCI manifests, Docker manifest list for schema 2) is put on the tag. The digest
    returned is the one the registry reported, checked against sha256 of the bytes sent.
    """
    manifest_type, _, _, index_type = _types(media_type)
    own = client is None
    http = client or httpx.Client(timeout=30.0)
    try:
        if not platforms:
            blobs, body = _image_parts(
                seed=seed,
                platform=Platform(),
                media_type=media_type,
                exposed_ports=exposed_ports,
                labels=labels,
            )
            for blob in blobs:
                _upload_blob(http, registry_url, repository, blob)
            return _put_manifest(http, registry_url, repository, tag, body, manifest_type)
        entries: list[dict[str, object]] = []
        for platform in platforms:
            # Each platform gets its own content, so each child has its own digest.
            blobs, body = _image_parts(
                seed=f"{seed}/{platform}",
                platform=platform,
                media_type=media_type,
                exposed_ports=exposed_ports,
                labels=labels,
            )
            for blob in blobs:
                _upload_blob(http, registry_url, repository, blob)
            child = _put_manifest(
                http, registry_url, repository, _sha256(body), body, manifest_type
            )
            platform_doc: dict[str, str] = {
                "architecture": platform.architecture,
                "os": platform.os,
            }
            if platform.variant:
                platform_doc["variant"] = platform.variant
            entries.append(
                {
                    "mediaType": manifest_type,
                    "digest": child,
                    "size": len(body),
                    "platform": platform_doc,
                }
            )
        index = _canonical({"schemaVersion": 2, "mediaType": index_type, "manifests": entries})
        return _put_manifest(http, registry_url, repository, tag, index, index_type)
    finally:
        if own:
            http.close()


def push_tags(
    registry_url: str,
    repository: str,
    tags: Iterable[str],
    seed_prefix: str,
    *,
    max_workers: int = 8,
) -> dict[str, str]:
    """Push many tags fast: the blobs once, then one small distinct OCI manifest per tag.

    Each tag's manifest carries an annotation naming ``seed_prefix`` and the tag, so every tag
    has its own digest. Returns ``{tag: digest}``.
    """
    tag_list = list(tags)
    limits = httpx.Limits(max_connections=max_workers, max_keepalive_connections=max_workers)
    with httpx.Client(timeout=30.0, limits=limits) as client:

        def parts(tag: str) -> tuple[list[bytes], bytes]:
            return _image_parts(
                seed=seed_prefix,
                platform=Platform(),
                media_type=OCI_MANIFEST,
                exposed_ports=None,
                labels=None,
                annotations={"org.example.seed": f"{seed_prefix}/{tag}"},
            )

        if tag_list:
            # The annotation does not touch the blobs: the first tag's blobs serve every tag.
            for blob in parts(tag_list[0])[0]:
                _upload_blob(client, registry_url, repository, blob)

        def push(tag: str) -> tuple[str, str]:
            body = parts(tag)[1]
            return tag, _put_manifest(client, registry_url, repository, tag, body, OCI_MANIFEST)

        with ThreadPoolExecutor(max_workers=max_workers) as pool:
            return dict(pool.map(push, tag_list))


def manifest_digest(
    registry_url: str, repository: str, reference: str, *, accept: str = MANIFEST_ACCEPT
) -> str:
    """The ``Docker-Content-Digest`` the registry reports for a HEAD with ``accept``."""
    with httpx.Client(timeout=10.0) as client:
        response = _check(
            client.head(
                f"{registry_url}/v2/{repository}/manifests/{reference}", headers={"Accept": accept}
            ),
            f"head manifest {repository}:{reference}",
        )
        digest: str | None = response.headers.get("docker-content-digest")
        if not digest:
            raise RuntimeError(f"no Docker-Content-Digest for {repository}:{reference}")
        return digest
