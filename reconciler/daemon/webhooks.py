"""What the daemon accepts over HTTP as a reason to act now: a git push webhook (GitHub
``X-Hub-Signature-256``, Gitea ``X-Gitea-Signature``, GitLab ``X-Gitlab-Token``) and a
distribution registry notification (its event envelope, with a bearer token).

A verified git webhook starts a pass only when it is a push (GitHub and Gitea ``push``,
GitLab ``Push Hook``, by the forge's event header) to the tracked branch: a ``ping`` is
answered and does nothing, and any other event or ref is ignored with the reason.

Every secret comparison is constant-time. Pure: headers and body in, a verdict out. No
header or body makes them raise anything but the ValueError documented for a body that
is not a notification envelope (nesting is limited as for the repo's YAML:
:mod:`reconciler.core.yamlguard`).

Owns what a signature, a token and a notification envelope must look like, and the body
size limit the server enforces (``MAX_BODY``). Must not do I/O, log, or know about HTTP
framing (the server reads the body within its limits and hands it here).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.core import yamlguard
from reconciler.core.secrets import Secret

MAX_BODY = 4 * 1024 * 1024


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    source: str  # github | gitea | gitlab | registry | ""
    reason: str = ""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _bytes(text: str) -> bytes:
    # Header values arrive as str and may hold any code point; compare_digest takes
    # only ASCII str, so compare bytes.
    return text.encode("utf-8", "surrogatepass")


def _hmac_ok(secret: Secret, body: bytes, given: str) -> bool:
    expected = hmac.new(_bytes(secret.reveal()), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), _bytes(given.strip().lower()))


def verify_git_webhook(
    headers: Mapping[str, str],
    body: bytes,
    *,
    github: Secret | None,
    gitea: Secret | None,
    gitlab: Secret | None,
) -> Verdict:
    """Accept a push notification only with a valid signature or token for a configured
    forge. Without any configured secret nothing is accepted."""
    signature = _header(headers, "X-Hub-Signature-256")
    if signature is not None and github is not None:
        if signature.startswith("sha256=") and _hmac_ok(github, body, signature[7:]):
            return Verdict(True, "github")
        return Verdict(False, "github", "bad X-Hub-Signature-256")
    gitea_signature = _header(headers, "X-Gitea-Signature")
    if gitea_signature is not None and gitea is not None:
        if _hmac_ok(gitea, body, gitea_signature):
            return Verdict(True, "gitea")
        return Verdict(False, "gitea", "bad X-Gitea-Signature")
    token = _header(headers, "X-Gitlab-Token")
    if token is not None and gitlab is not None:
        if hmac.compare_digest(_bytes(token), _bytes(gitlab.reveal())):
            return Verdict(True, "gitlab")
        return Verdict(False, "gitlab", "bad X-Gitlab-Token")
    return Verdict(False, "", "no signature or token for a configured forge")


# The event header each forge sends, and the value that means "a branch was pushed".
# Gitea also sends GitHub's header (and Gogs's), so it is read last for gitea.
EVENT_HEADERS = {
    "github": ("X-GitHub-Event",),
    "gitea": ("X-Gitea-Event", "X-Gogs-Event", "X-GitHub-Event"),
    "gitlab": ("X-Gitlab-Event",),
}
PUSH_EVENTS = {"github": "push", "gitea": "push", "gitlab": "Push Hook"}
PING = "ping"
# The header that names one delivery of a webhook (the forge's own id, shown in its
# "recent deliveries" page), so a pass can be traced back to it.
DELIVERY_HEADERS = {
    "github": ("X-GitHub-Delivery",),
    "gitea": ("X-Gitea-Delivery", "X-Gogs-Delivery", "X-GitHub-Delivery"),
    "gitlab": ("X-Gitlab-Event-UUID", "X-Gitlab-Webhook-UUID"),
}
_DELIVERY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


@dataclass(frozen=True)
class GitEvent:
    """What a verified git webhook asks for: ``run`` a pass or not, the forge's event name,
    and why not (``ignored``)."""

    run: bool
    event: str
    ignored: str = ""
    delivery: str = ""  # the forge's delivery id, "" when it sent none


def git_event(source: str, headers: Mapping[str, str], body: bytes, branch: str) -> GitEvent:
    """Judge a verified webhook from ``source`` (github, gitea, gitlab) against the tracked
    ``branch``. Raises ValueError when a push event's body carries no ref."""
    event = next((v for name in EVENT_HEADERS.get(source, ()) if (v := _header(headers, name))), "")
    if event.lower() == PING:
        return GitEvent(False, event, "ping: nothing to do")
    if event != PUSH_EVENTS.get(source):
        shown = f"event {event!r}" if event else "no event header"
        return GitEvent(False, event, f"{shown} is not a push")
    ref = _push_ref(body)
    if ref != f"refs/heads/{branch}":
        return GitEvent(False, event, f"ref {ref} is not the tracked branch")
    return GitEvent(True, event, delivery=delivery_id(source, headers))


def delivery_id(source: str, headers: Mapping[str, str]) -> str:
    """The forge's id of this webhook delivery: at most 64 characters of letters,
    digits and ``-_.:`` (anything else is dropped: it ends up in logs and on the status
    page), or "" when there is none."""
    raw = next(
        (v for name in DELIVERY_HEADERS.get(source, ()) if (v := _header(headers, name))), ""
    )
    return "".join(c for c in raw if c in _DELIVERY_CHARS)[:64]


def _push_ref(body: bytes) -> str:
    """The ``ref`` of a push payload: JSON, or GitHub's form encoding (``payload=...``)."""
    text = body.decode("utf-8", "replace")
    if text.startswith("payload="):
        text = urllib.parse.parse_qs(text).get("payload", [""])[0]
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"push event body is not JSON: {exc}") from exc
    ref = payload.get("ref") if isinstance(payload, dict) else None
    if not isinstance(ref, str) or not ref:
        raise ValueError("push event without a ref")
    return ref


def verify_bearer(headers: Mapping[str, str], token: Secret | None) -> bool:
    if token is None:
        return False
    given = _header(headers, "Authorization") or ""
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        _bytes(value.strip()), _bytes(token.reveal())
    )


@dataclass(frozen=True, order=True)
class PushedRepository:
    """One registry push event: where, what repository, which tag (if any)."""

    host: str
    repository: str
    tag: str | None


def registry_pushes(body: bytes) -> list[PushedRepository]:
    """The tag pushes of a distribution notification envelope; pulls, blob pushes and
    pushes by digest are ignored. Raises ValueError on a body that is not an envelope."""
    try:
        text = body.decode(json.detect_encoding(body))
    except (UnicodeDecodeError, LookupError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    refusal = yamlguard.check_json(text)
    if refusal is not None:
        raise ValueError(f"not accepted: {refusal.text('body')}")
    try:
        envelope = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    events = envelope.get("events") if isinstance(envelope, dict) else None
    if not isinstance(events, list):
        raise ValueError("not a notification envelope: no 'events' list")
    pushes: set[PushedRepository] = set()
    for event in events:
        if not isinstance(event, dict) or event.get("action") != "push":
            continue
        raw_target, raw_request = event.get("target"), event.get("request")
        target: dict[str, object] = raw_target if isinstance(raw_target, dict) else {}
        request: dict[str, object] = raw_request if isinstance(raw_request, dict) else {}
        repository = target.get("repository")
        tag = target.get("tag")
        # Only a manifest put by tag can move a tag; blob uploads and manifests put by
        # digest (the children of an index) arrive as push events too, and would
        # otherwise make every tag of the repository look pushed.
        if not isinstance(repository, str) or not repository or not isinstance(tag, str):
            continue
        host = request.get("host")
        pushes.add(
            PushedRepository(
                host=host if isinstance(host, str) else "",
                repository=repository,
                tag=tag or None,
            )
        )
    return sorted(pushes, key=lambda p: (p.host, p.repository, p.tag or ""))
