"""Why a pass ran, for people: the log lines of a pass, ``/status`` and its pass history.

A pass has one or more causes, most telling first:

- ``start``: the daemon's first pass, or the first of a new lease term;
- ``webhook``: a signed git push webhook, with the forge and its delivery id
  (``X-GitHub-Delivery``, ``X-Gitea-Delivery``, ``X-Gitlab-Event-UUID``);
- ``notification``: a registry notification, with the repositories it named
  (``host/repository:tag``);
- ``poll``: the git poll (``git ls-remote``) saw the branch move, with no webhook;
- ``schedule``: scheduled tags fell due, with how many.

Pure: what the loop saw in, causes out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

START = "start"
WEBHOOK = "webhook"
NOTIFICATION = "notification"
POLL = "poll"
SCHEDULE = "schedule"
KINDS = (START, WEBHOOK, NOTIFICATION, POLL, SCHEDULE)


@dataclass(frozen=True)
class Cause:
    kind: str  # one of KINDS
    details: tuple[str, ...] = ()  # webhook deliveries, repositories, "12 tags due", ...
    count: int = 0  # schedule: the tags due

    def text(self) -> str:
        return f"{self.kind} ({', '.join(self.details)})" if self.details else self.kind

    def to_data(self) -> dict[str, Any]:
        return {"kind": self.kind, "details": list(self.details)}


def webhook_delivery(forge: str, delivery: str) -> str:
    """How one webhook is named in a cause: ``github 72d3162e-...``, or the forge alone
    when it sent no delivery id."""
    return f"{forge} {delivery}" if delivery else forge


def of_pass(
    *,
    first: bool,
    term: int | None,
    moved: bool,
    webhooks: Sequence[str],
    notified: Iterable[str],
    due: int,
    notified_tags: int = 0,
) -> list[Cause]:
    """Every cause of a pass about to run, most telling first. ``term``: the lease term
    when this first pass is a new leader's (None: the daemon's first pass);
    ``notified``: the pushes that named the ``notified_tags`` tags this pass re-checks."""
    found: list[Cause] = []
    if first:
        found.append(Cause(START, (f"lease term {term}",) if term else ()))
    if webhooks:
        found.append(Cause(WEBHOOK, tuple(dict.fromkeys(webhooks))))
    repositories = tuple(sorted(set(notified)))
    if repositories or notified_tags:
        found.append(Cause(NOTIFICATION, repositories))
    if moved and not webhooks and not first:
        found.append(Cause(POLL, ("the branch moved",)))
    if due:
        found.append(Cause(SCHEDULE, (f"{due} tag{'s' if due != 1 else ''} due",), due))
    return found or [Cause(POLL)]


def primary(causes: Sequence[Cause]) -> str:
    return causes[0].kind if causes else POLL


def describe(causes: Sequence[Cause]) -> str:
    """One line: ``webhook (github 72d3...); schedule (3 tags due)``."""
    return "; ".join(c.text() for c in causes)


def log_fields(causes: Sequence[Cause]) -> dict[str, Any]:
    """The fields a pass's log lines carry: ``cause`` (the most telling), and when there
    are any, ``webhook`` (forge and delivery id), ``repositories``, ``due``."""
    fields: dict[str, Any] = {"cause": primary(causes)}
    for cause in causes:
        if cause.kind == WEBHOOK:
            fields["webhook"] = list(cause.details)
        elif cause.kind == NOTIFICATION:
            fields["repositories"] = list(cause.details)
        elif cause.kind == SCHEDULE:
            fields["due"] = cause.count
        elif cause.kind == START and cause.details:
            fields["lease"] = cause.details[0]
    if len(causes) > 1:
        fields["causes"] = [c.kind for c in causes]
    return fields
