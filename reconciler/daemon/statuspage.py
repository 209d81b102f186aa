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
from typing import Any

from reconciler.core.times import human_duration, parse_time, rfc3339

CSS = """
:root{--bg:#f6f7f9;--card:#fff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;
--ok:#1a7f37;--okbg:#dafbe1;--bad:#b42318;--badbg:#ffebe9;--warn:#8a5a00;--warnbg:#fff4d5;
--accent:#0b57d0;--code:#eef1f4}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--card:#161b22;--fg:#e6edf3;
--muted:#9aa4af;--line:#30363d;--ok:#3fb950;--okbg:#12261a;--bad:#ff7b72;--badbg:#2d1214;
--warn:#e3b341;--warnbg:#2b2111;--accent:#79b8ff;--code:#1f2630}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
a{color:var(--accent)}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:var(--card);padding:4px 8px}
header,main,footer{max-width:1100px;margin:0 auto;padding:0 16px}
header{padding-top:20px}
h1{font-size:1.35rem;margin:0 0 2px}
h2{font-size:1.1rem;margin:28px 0 10px;display:flex;gap:8px;align-items:baseline;flex-wrap:wrap}
h3{font-size:1rem;margin:0;display:flex;gap:8px;align-items:center;flex-wrap:wrap}
h3 code{font-size:14px;font-weight:700}
.sub{color:var(--muted);margin:0 0 12px;overflow-wrap:anywhere}
.count{color:var(--muted);font-weight:normal;font-size:.9rem}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:8px;
margin:0;padding:0;list-style:none}
.facts li{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 12px;
min-width:0}
.facts .k{display:block;color:var(--muted);font-size:.8rem}
.facts .v{display:block;font-weight:600;overflow-wrap:anywhere}
.facts .s{display:block;color:var(--muted);font-size:.78rem;overflow-wrap:anywhere}
.badge{display:inline-block;border-radius:999px;padding:0 8px;font-size:.8rem;font-weight:600;
border:1px solid currentColor;white-space:nowrap}
.ok{color:var(--ok);background:var(--okbg)}.bad{color:var(--bad);background:var(--badbg)}
.warn{color:var(--warn);background:var(--warnbg)}.muted{color:var(--muted)}
.problem{border:1px solid var(--bad);background:var(--badbg);border-radius:8px;padding:10px 14px;
margin-top:14px}
.problem h2{margin:0 0 4px;color:var(--bad)}
.problem pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:6px 0 0;font-size:13px}
.tags{list-style:none;margin:0;padding:0;display:grid;gap:10px}
.tag{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--ok);
border-radius:8px;padding:10px 14px}
.tag.failing{border-left-color:var(--bad)}.tag.pending{border-left-color:var(--warn)}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0 0}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0;min-width:0}
.digest b{font-weight:600}.digest span{color:var(--muted)}
.condition{margin:8px 0 0;padding:6px 10px;border-radius:6px;background:var(--badbg);
color:var(--fg);overflow-wrap:anywhere}
.condition strong{color:var(--bad)}
details{margin-top:8px}
summary{cursor:pointer;color:var(--accent)}
ol.timeline{list-style:none;margin:8px 0 0;padding:0 0 0 14px;border-left:2px solid var(--line)}
ol.timeline>li{position:relative;padding:0 0 10px 10px}
ol.timeline>li::before{content:"";position:absolute;left:-21px;top:6px;width:10px;height:10px;
border-radius:50%;background:var(--card);border:2px solid var(--muted)}
ol.timeline>li.current::before{background:var(--ok);border-color:var(--ok)}
.gen{color:var(--muted);font-size:.85rem}
.when{color:var(--muted);font-size:.85rem}
ul.records{margin:4px 0 0;padding-left:18px}
ul.records li{margin:2px 0}
ul.deliveries{margin:2px 0 4px;padding-left:18px;list-style:circle}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);
border-radius:8px;overflow:hidden}
caption{text-align:left;color:var(--muted);padding:0 0 6px}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:top;
overflow-wrap:anywhere}
td.id{white-space:nowrap}
th{font-size:.85rem;color:var(--muted);font-weight:600;white-space:nowrap}
tr:last-child td{border-bottom:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.empty{color:var(--muted);background:var(--card);border:1px dashed var(--line);border-radius:8px;
padding:10px 14px}
footer{color:var(--muted);font-size:.85rem;padding-top:24px;padding-bottom:32px}
@media (max-width:640px){
body{font-size:14px}
h1{font-size:1.2rem}
.facts{grid-template-columns:1fr 1fr}
table,thead,tbody,tr,th,td{display:block}
thead{position:absolute;left:-9999px}
table{border:0;background:none}
tr{background:var(--card);border:1px solid var(--line);border-radius:8px;margin-bottom:8px}
td{border:0;padding:3px 10px;display:grid;grid-template-columns:6.5em minmax(0,1fr);gap:8px}
tr td:first-child{padding-top:8px}tr td:last-child{padding-bottom:8px}
td::before{content:attr(data-label);color:var(--muted);font-size:.85rem}
td.num{text-align:left}td.id{white-space:normal}
dl.meta{grid-template-columns:1fr}dl.meta dt{margin-top:4px}
}
""".strip()

OPEN_HISTORIES = 30  # up to this many tags, every timeline is shown open

CSP = (
    "default-src 'none'; style-src 'sha256-"
    + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
    + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
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
    out = [
        f'<li class="{classes}" id="{_e(anchor)}"><article aria-labelledby="{_e(anchor)}-h">',
        f'<h3 id="{_e(anchor)}-h"><code>{_e(name)}</code> {badges}</h3>',
        '<dl class="meta">',
        *(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in meta),
        "</dl>",
    ]
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


def _tags(tags: Mapping[str, Mapping[str, Any]], now: dt.datetime) -> list[str]:
    ordered = sorted(tags.items(), key=lambda kv: (not _failing(kv[1]), kv[0]))
    failing = sum(1 for _, t in ordered if _failing(t))
    out = [
        '<section id="tags" aria-labelledby="tags-h">',
        f'<h2 id="tags-h">Tags <span class="count">{len(ordered)} tag'
        f"{'s' if len(ordered) != 1 else ''}"
        + (f" · {failing} failing, listed first" if failing else "")
        + "</span></h2>",
    ]
    if not ordered:
        out.append('<p class="empty">No tags yet: the first pass has not completed.</p>')
    else:
        out.append('<ul class="tags">')
        small = len(ordered) <= OPEN_HISTORIES
        for i, (name, tag) in enumerate(ordered):
            out += _tag(name, tag, now, f"tag-{i}", small)
        out.append("</ul>")
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


def render(status: Mapping[str, Any], now: float) -> str:
    """The whole page."""
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
        *_tags(status.get("tags") or {}, moment),
        *_passes(list(status.get("recentPasses") or []), moment),
        *_failed_deliveries(list(status.get("failedDeliveries") or []), moment),
        "</main>",
        f"<footer>Rendered {_time(now, moment)}. Reload for the latest. The same as JSON: "
        '<a href="/status?format=json">/status?format=json</a> · '
        '<a href="/metrics">/metrics</a></footer>',
        "</body></html>",
    ]
    return "\n".join(parts)
