"""``/status`` for a person: one HTML page rendered on the server from the same data as
the JSON (``Daemon.status()``). Every tag with its digest and its history as a timeline
(each digest, when it was first seen, what it was pinned as, the trigger records it
opened and where they were delivered), failing tags first; the recent passes with their
causes and durations; the deliveries that failed.

No script, no external asset (the CSS is inline, allowed by a hash in the
Content-Security-Policy the server sends), readable on a phone. Everything shown is
escaped: tag names, error messages and delivery errors come from repository authors and
remote servers. Times are RFC 3339 with a relative age beside them.

Also owns which of the two a request gets (``negotiate``: JSON unless the client prefers
text/html) and the headers the page is sent with. Pure: data and the time in, text out.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from reconciler.core.times import human_duration, parse_time, rfc3339

# The page's one stylesheet, inlined (no request for an asset: it works offline).
CSS = (Path(__file__).with_name("statuspage.css")).read_text(encoding="utf-8").strip()

OPEN_HISTORIES = 30  # up to this many tags on a page, every timeline is shown open
PAGE_SIZE = 200  # tags a page: 50,000 tags would make a page of 100 MB

CSP = (
    "default-src 'none'; style-src 'sha256-"
    + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
    + "'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# Sent with the page: no script or other origin may run in it, and no referrer leaks.
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _quality(accept: str, media: str) -> float:
    """The q of ``media`` in an Accept header: from its most specific matching range."""
    kind = media.split("/")[0]
    best: tuple[int, float] = (-1, 0.0)
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        media_range = fields[0].lower()
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(1.0, max(0.0, float(value)))
                except ValueError:
                    q = 0.0
        specificity = (
            2
            if media_range == media
            else 1
            if media_range == f"{kind}/*"
            else 0
            if media_range == "*/*"
            else -1
        )
        if specificity > best[0]:
            best = (specificity, q)
    return best[1]


def negotiate(accept: str) -> str:
    """``html`` when the client prefers text/html to application/json, else ``json``
    (so no Accept, ``*/*`` and ties get JSON, as before the page existed)."""
    if not accept.strip():
        return "json"
    return (
        "html" if _quality(accept, "text/html") > _quality(accept, "application/json") else "json"
    )


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _moment(value: object) -> dt.datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    if isinstance(value, str) and value:
        return parse_time(value)
    return None


def _time(value: object, now: dt.datetime) -> str:
    """``<time>`` in RFC 3339 with its age (``5 minutes ago``, ``in 3 minutes``)."""
    moment = _moment(value)
    if moment is None:
        return '<span class="muted">never</span>'
    stamp = rfc3339(moment)
    delta = now - moment
    if abs(delta.total_seconds()) < 1:
        age = "just now"
    elif delta.total_seconds() > 0:
        age = f"{human_duration(delta).lower()} ago"
    else:
        age = f"in {human_duration(-delta).lower()}"
    return f'<time datetime="{_e(stamp)}">{_e(stamp)}</time> <span class="when">({_e(age)})</span>'


def _fact_time(value: object, now: dt.datetime) -> str:
    """For the summary: the age first, the RFC 3339 time below it."""
    moment = _moment(value)
    if moment is None:
        return '<span class="v muted">never</span>'
    stamp = rfc3339(moment)
    seconds = (now - moment).total_seconds()
    age = "just now" if abs(seconds) < 1 else f"{human_duration(now - moment).lower()} ago"
    return (
        f'<span class="v">{_e(age)}</span><time class="s" datetime="{_e(stamp)}">{_e(stamp)}</time>'
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _digest(digest: object) -> str:
    """A digest with its first 12 hex digits stressed, the rest dimmed (all selectable)."""
    if not isinstance(digest, str) or not digest:
        return '<span class="muted">not resolved yet</span>'
    algorithm, _, hexpart = digest.partition(":")
    head, tail = f"{algorithm}:{hexpart[:12]}", hexpart[12:]
    return f'<code class="digest"><b>{_e(head)}</b><span>{_e(tail)}</span></code>'


def _badge(text: str, kind: str) -> str:
    return f'<span class="badge {kind}">{_e(text)}</span>'


def _seconds(value: object) -> str:
    if not isinstance(value, int | float):
        return ""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def _cell(label: str, content: str, cls: str = "") -> str:
    """A table cell; on a phone, rows become cards and the label shows beside it."""
    kind = f' class="{cls}"' if cls else ""
    return f'<td data-label="{_e(label)}"{kind}><div>{content}</div></td>'


def _failing(tag: Mapping[str, Any]) -> bool:
    return bool(tag.get("conditions"))


def _header(status: Mapping[str, Any], now: dt.datetime) -> list[str]:
    health = status.get("health") or {}
    ready = bool(status.get("ready"))
    state = str(health.get("state", "starting"))
    leader = status.get("leader")
    lease = status.get("lease") or {}
    passes = status.get("recentPasses") or []
    state_kind = "ok" if state == "ok" else "warn" if state == "starting" else "bad"
    role = "leader" if leader else f"follower of {lease.get('holder') or 'nobody yet'}"
    last = passes[0] if passes else None
    status_text = _badge("ready", "ok") if ready else _badge("not ready", "bad")
    if state != "ok":
        status_text += " " + _badge(state, state_kind)
    last_text = (
        f'<span class="s">{_e(last["outcome"])}, {_e(last["cause"])}</span>'
        + _fact_time(last["started"], now)
        if last
        else '<span class="v muted">none yet</span>'
    )
    facts = [
        ("Status", f'<span class="v">{status_text}</span>'),
        (
            "Replica",
            f'<span class="v">{_e(role) if lease.get("enabled", True) else "single"}</span>',
        ),
        ("Last success", _fact_time(health.get("lastSuccess"), now)),
        ("Last pass", last_text),
        (
            "Head",
            f'<span class="v"><code>{_e(str(status.get("head") or "")[:12] or "-")}</code></span>',
        ),
        ("Deliveries pending", f'<span class="v">{_e(status.get("deliveriesPending", 0))}</span>'),
    ]
    out = [
        "<header>",
        "<h1>imagestream-reconciler</h1>",
        f'<p class="sub"><code>{_e(status.get("repo", ""))}</code> · branch '
        f"<code>{_e(status.get('branch', ''))}</code></p>",
        '<ul class="facts" aria-label="Summary">',
    ]
    out += [f'<li><span class="k">{_e(k)}</span>{v}</li>' for k, v in facts]
    out.append("</ul>")
    if state not in ("ok", "starting") or health.get("lastError"):
        out += [
            '<section class="problem" aria-labelledby="problem-h">',
            f'<h2 id="problem-h">{_e(health.get("notReadyReason") or state)}</h2>',
            f"<p>{_e(health.get('kind', ''))} error, {_e(health.get('consecutiveFailures', 0))}"
            f" in a row; next try {_time(health.get('nextRetry'), now)}</p>",
            f"<pre>{_e(health.get('lastError', ''))}</pre>",
            "</section>",
        ]
    if lease.get("error"):
        out.append(f'<p class="condition"><strong>Lease:</strong> {_e(lease["error"])}</p>')
    out.append("</header>")
    return out


def _records(records: Iterable[Mapping[str, Any]], now: dt.datetime) -> list[str]:
    """Each record a digest opened, and under it where it was delivered."""
    out: list[str] = []
    for record in records:
        status = str(record.get("status", ""))
        out.append(
            f"<li>Record <code>{_e(record.get('id', ''))}</code>: {_e(record.get('action', ''))} "
            f"<code>{_e(record.get('consumer', ''))}</code> "
            f"{_badge(status, 'warn' if status == 'open' else 'muted')}"
        )
        deliveries = record.get("deliveries") or []
        if not deliveries:
            out.append('<br><span class="muted">no delivery recorded by this daemon</span></li>')
            continue
        out.append('<ul class="deliveries">')
        for d in deliveries:
            state = str(d.get("state", ""))
            kind = {"delivered": "ok", "failed": "bad", "pending": "warn"}.get(state, "muted")
            text = f"{_badge(state, kind)} to <code>{_e(d.get('target', ''))}</code>"
            if d.get("deliveredAt"):
                text += f" {_time(d['deliveredAt'], now)}"
            elif d.get("attempts"):
                text += f" after {_e(d['attempts'])} attempt{'s' if d['attempts'] != 1 else ''}"
            if d.get("lastError") and state != "delivered":
                text += f": {_e(d['lastError'])}"
            out.append(f"<li>{text}</li>")
        out.append("</ul></li>")
    return out


def _tag(
    name: str, tag: Mapping[str, Any], now: dt.datetime, anchor: str, open_history: bool
) -> list[str]:
    failing = _failing(tag)
    pending = not tag.get("digest")
    classes = "tag failing" if failing else "tag pending" if pending else "tag"
    badges = _badge("failing", "bad") if failing else ""
    hold = tag.get("hold")
    if hold:
        badges += " " + _badge("held", "warn")
    if tag.get("scheduled"):
        badges += " " + _badge("scheduled", "muted")
    meta = [
        ("Digest", _digest(tag.get("digest"))),
        ("Image", f"<code>{_e(tag['image'])}</code>" if tag.get("image") else "-"),
        ("From", f"<code>{_e(tag.get('from', ''))}</code>"),
    ]
    if "lastChecked" in tag:
        meta.append(("Checked", _time(tag["lastChecked"], now)))
    if "nextCheck" in tag:
        meta.append(("Next check", _time(tag["nextCheck"], now)))
    if tag.get("picked"):
        meta.append(("Version policy", _e(tag["picked"])))
    if tag.get("minimumAge"):
        meta.append(("Minimum age", _e(tag["minimumAge"])))
    for item in tag.get("waiting") or []:
        meta.append(
            (
                "Waiting",
                f"<code>{_e(item.get('tag') or str(item.get('digest', ''))[:19])}</code>, "
                f"first seen {_time(item.get('firstSeen'), now)}",
            )
        )
    out = [
        f'<li class="{classes}" id="{_e(anchor)}"><article aria-labelledby="{_e(anchor)}-h">',
        f'<h3 id="{_e(anchor)}-h"><code>{_e(name)}</code> {badges}</h3>',
        '<dl class="meta">',
        *(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in meta),
        "</dl>",
    ]
    if hold:
        until = f" until {_time(hold.get('until'), now)}" if hold.get("until") else ""
        out.append(
            f'<p class="condition"><strong>Held</strong>{until}: {_e(hold.get("reason", ""))} '
            f'<span class="when">since {_time(hold.get("since"), now)}</span></p>'
        )
    for condition in tag.get("conditions") or []:
        out.append(
            f'<p class="condition"><strong>{_e(condition.get("reason", ""))}</strong>: '
            f"{_e(condition.get('message', ''))} "
            f'<span class="when">since {_time(condition.get("lastTransitionTime"), now)}'
            "</span></p>"
        )
    history = tag.get("history") or []
    if history:
        n = len(history)
        out.append(f"<details{' open' if failing or open_history else ''}>")
        out.append(f"<summary>History: {_plural(n, 'digest')}</summary>")
        out.append(f'<ol class="timeline" aria-label="History of {_e(name)}, newest first">')
        for i, item in enumerate(history):
            records = item.get("records") or []
            out.append(
                f"<li{' class=current' if i == 0 else ''}>"
                f'<span class="gen">#{_e(item.get("generation", ""))}</span> '
                f"{_digest(item.get('digest'))}<br>"
                f"first seen {_time(item.get('created'), now)}<br>"
                f"pinned as <code>{_e(item.get('image', ''))}</code>"
            )
            if records:
                out.append('<ul class="records" aria-label="Trigger records">')
                out += _records(records, now)
                out.append("</ul>")
            out.append("</li>")
        out.append("</ol></details>")
    out.append("</article></li>")
    return out


def _tags(
    tags: Mapping[str, Mapping[str, Any]], now: dt.datetime, query: str, page: int
) -> list[str]:
    """The tags whose name contains ``query``, failing first, ``PAGE_SIZE`` a page."""
    ordered = sorted(tags.items(), key=lambda kv: (not _failing(kv[1]), kv[0]))
    if query:
        ordered = [(n, t) for n, t in ordered if query.lower() in n.lower()]
    failing = sum(1 for _, t in ordered if _failing(t))
    pages = max(1, -(-len(ordered) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    first = (page - 1) * PAGE_SIZE
    shown = ordered[first : first + PAGE_SIZE]
    count = _plural(len(ordered), "tag") + (f" matching “{_e(query)}”" if query else "")
    out = [
        '<section id="tags" aria-labelledby="tags-h">',
        f'<h2 id="tags-h">Tags <span class="count">{count}'
        + (f" · {failing} failing, listed first" if failing else "")
        + "</span></h2>",
        '<form class="filter" method="get" action="/status" role="search">'
        '<label for="q">Tag name contains</label> '
        f'<input id="q" name="q" type="search" value="{_e(query)}" autocomplete="off"> '
        '<button type="submit">Show</button></form>',
    ]
    if not ordered:
        empty = "No tag matches." if query else "No tags yet: the first pass has not completed."
        out.append(f'<p class="empty">{empty}</p>')
    else:
        out.append('<ul class="tags">')
        small = len(shown) <= OPEN_HISTORIES
        for i, (name, tag) in enumerate(shown, start=first):
            out += _tag(name, tag, now, f"tag-{i}", small)
        out.append("</ul>")
    if pages > 1:

        def link(n: int, text: str) -> str:
            target = urlencode({"q": query, "page": n} if query else {"page": n})
            return f'<a href="/status?{_e(target)}#tags">{text}</a>'

        nav = [f"Tags {first + 1} to {first + len(shown)} of {len(ordered)}"]
        if page > 1:
            nav.append(link(page - 1, "← previous"))
        if page < pages:
            nav.append(link(page + 1, "next →"))
        out.append(f'<nav class="pages" aria-label="Tag pages">{" · ".join(nav)}</nav>')
    out.append("</section>")
    return out


def _passes(passes: list[Mapping[str, Any]], now: dt.datetime) -> list[str]:
    out = [
        '<section id="passes" aria-labelledby="passes-h">',
        f'<h2 id="passes-h">Recent passes <span class="count">last {len(passes)}, '
        "newest first</span></h2>",
    ]
    if not passes:
        out.append('<p class="empty">No pass has run yet.</p></section>')
        return out
    out += [
        "<table>",
        "<thead><tr><th scope=col>Started</th><th scope=col>Cause</th>"
        "<th scope=col>Outcome</th><th scope=col>Duration</th><th scope=col>Result</th>"
        "<th scope=col>Pass id</th></tr></thead><tbody>",
    ]
    for p in passes:
        outcome = str(p.get("outcome", ""))
        kind = {"ok": "ok", "partial": "warn", "error": "bad"}.get(outcome, "muted")
        cause = "; ".join(
            _e(c.get("kind", ""))
            + (f" ({_e(', '.join(c['details']))})" if c.get("details") else "")
            for c in p.get("causes") or []
        )
        if p.get("error"):
            result = _e(p["error"])
        else:
            parts = [_plural(len(p.get("changes") or []), "change")]
            if p.get("triggersOpened"):
                parts.append(_plural(len(p["triggersOpened"]), "record") + " opened")
            if p.get("failures"):
                parts.append(_plural(int(p["failures"]), "tag") + " failed")
            if p.get("skipped"):
                parts.append(_plural(int(p["skipped"]), "object") + " skipped")
            if p.get("commit"):
                parts.append(f"commit <code>{_e(str(p['commit'])[:12])}</code>")
            result = ", ".join(parts)
        out.append(
            "<tr>"
            + _cell("Started", _time(p.get("started"), now))
            + _cell("Cause", cause)
            + _cell("Outcome", _badge(outcome, kind))
            + _cell("Duration", _e(_seconds(p.get("durationSeconds"))), "num")
            + _cell("Result", result)
            + _cell("Pass id", f"<code>{_e(p.get('id', ''))}</code>", "id")
            + "</tr>"
        )
    out.append("</tbody></table></section>")
    return out


def _failed_deliveries(items: list[Mapping[str, Any]], now: dt.datetime) -> list[str]:
    out = [
        '<section id="deliveries" aria-labelledby="deliveries-h">',
        f'<h2 id="deliveries-h">Failed deliveries <span class="count">{len(items)}</span></h2>',
    ]
    if not items:
        out.append('<p class="empty">None: every delivery went through or is waiting.</p>')
        out.append("</section>")
        return out
    out += [
        "<table>",
        "<thead><tr><th scope=col>Record</th><th scope=col>Target</th><th scope=col>State</th>"
        "<th scope=col>Attempts</th><th scope=col>Last error</th></tr></thead><tbody>",
    ]
    for d in items:
        state = str(d.get("state", ""))
        label = "abandoned" if state == "failed" else "retrying"
        retry = f", next {_time(d['nextAttempt'], now)}" if d.get("nextAttempt") else ""
        attempts = f"{_e(d.get('attempts', 0))} of {_e(d.get('maxAttempts', ''))}"
        out.append(
            "<tr>"
            + _cell("Record", f"<code>{_e(d.get('record', ''))}</code>")
            + _cell("Target", f"<code>{_e(d.get('target', ''))}</code>")
            + _cell("State", _badge(label, "bad" if state == "failed" else "warn") + retry)
            + _cell("Attempts", attempts, "num")
            + _cell("Last error", _e(d.get("lastError", "")))
            + "</tr>"
        )
    out.append("</tbody></table></section>")
    return out


def view_of(params: Mapping[str, str]) -> tuple[str, int]:
    """The tag filter (``q``) and page (``page``) a request asks for."""
    number = params.get("page", "1")
    return params.get("q", "")[:200], int(number) if number.isdigit() and len(number) < 7 else 1


def render(status: Mapping[str, Any], now: float, query: str = "", page: int = 1) -> str:
    """The whole page; the tags whose name contains ``query``, page ``page``."""
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    title = f"{status.get('repo', '')} ({status.get('branch', '')}): imagestream-reconciler"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>",
        "</head><body>",
        '<a class="skip" href="#tags">Skip to the tags</a>',
        *_header(status, moment),
        "<main>",
        *_tags(status.get("tags") or {}, moment, query, page),
        *_passes(list(status.get("recentPasses") or []), moment),
        *_failed_deliveries(list(status.get("failedDeliveries") or []), moment),
        "</main>",
        f"<footer>Rendered {_time(now, moment)}. Reload for the latest. The same as JSON: "
        '<a href="/status?format=json">/status?format=json</a> · '
        '<a href="/metrics">/metrics</a></footer>',
        "</body></html>",
    ]
    return "\n".join(parts)
