"""``course dashboard``: the monitoring dashboard as one HTML page that works offline.

The original course built it with Quarto, which cannot be installed here
(DESIGN.md §5), so the page is plain HTML with plotly's charts: plotly.js is
inlined once in the page's head (about 4.8 MB), each chart is a few
kilobytes of aggregated data, and nothing is fetched from the network (no
CDN, no web fonts, no images): it opens from a file on a laptop offline, in
a closed cluster, or in the book.

At a glance, top to bottom: value boxes (predictions, share above 0.8,
latency, drift state in colour), then the charts of
:mod:`~course_lib.monitoring.dashboard_figures`.  The drift state is the one
``course monitor`` prints (:func:`~course_lib.monitoring.alerts.evaluate_alerts`
on the same drift report).
"""

from __future__ import annotations

import html
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import plotly.io as pio
from plotly.offline import get_plotlyjs

from course_lib import settings
from course_lib.errors import CourseError
from course_lib.monitoring.alerts import Status
from course_lib.monitoring.dashboard_data import DashboardData, gather
from course_lib.monitoring.dashboard_figures import CHARTS, GREEN, GREY, RED
from course_lib.monitoring.queries import data_root
from course_lib.monitoring.thresholds import THRESHOLDS, Thresholds

PAGE_NAME = "dashboard.html"
EMPTY_MESSAGE = (
    "No predictions yet: run course serve and send requests, or course traffic, then course etl."
)
MODELS_SHOWN = 4
"""Model versions named in the header, the latest ones."""
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
"""No "Produced with Plotly" link (the page links nowhere) and charts that follow the width."""

STATUS_COLOURS = {
    Status.OK: GREEN,
    Status.ALERT: RED,
    Status.NO_DATA: RED,
    Status.NOT_ENOUGH_HISTORY: GREY,
    Status.NOT_ENOUGH_DATA: GREY,
}

CSS = """
:root { --ink: #1f2933; --muted: #5f6b7a; --card: #ffffff; --page: #f3f5f8; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { padding: 18px 28px 8px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .meta { color: var(--muted); }
.badge { display: inline-block; margin-left: 8px; padding: 1px 8px; border-radius: 10px;
         background: #fff3cd; color: #7a5b00; font-size: 12px; font-weight: 600;
         vertical-align: middle; }
.boxes { display: grid; grid-template-columns: repeat(auto-fit, minmax(210px, 1fr));
         gap: 14px; padding: 10px 28px; }
.box { background: var(--card); border-radius: 8px; padding: 14px 16px;
       box-shadow: 0 1px 3px rgba(0,0,0,.08); border-top: 4px solid #2c6fbb; }
.box .value { font-size: 28px; font-weight: 700; }
.box .label { color: var(--muted); font-size: 13px; }
.box .sub { color: var(--muted); font-size: 12px; margin-top: 4px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr));
        gap: 14px; padding: 10px 28px 28px; }
.card { background: var(--card); border-radius: 8px; padding: 12px 14px;
        box-shadow: 0 1px 3px rgba(0,0,0,.08); min-width: 0; }
.card.wide { grid-column: 1 / -1; }
.card h2 { font-size: 15px; margin: 0 0 2px; }
.card p { margin: 0 0 6px; color: var(--muted); font-size: 12px; }
.empty { margin: 60px auto; max-width: 640px; background: var(--card); padding: 28px;
         border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.08); font-size: 16px; }
footer { color: var(--muted); font-size: 12px; padding: 0 28px 24px; }
"""


def dashboard_html(data: Path | str | None = None, thresholds: Thresholds = THRESHOLDS) -> str:
    """The page as a string (for a notebook's ``IPython.display.HTML``), from ``data``
    (default: the state's monitoring folder; a folder or an ``s3://bucket/prefix``)."""
    return render(gather(data_root(data), thresholds))


def write_dashboard(
    data: Path | str | None = None, out: Path | None = None, thresholds: Thresholds = THRESHOLDS
) -> Path:
    """Write the page to ``out`` and return its path.

    ``out`` defaults to ``dashboard.html`` in the data folder (in the state's
    monitoring folder when the data is on S3: the page is a local file).

    Written under a unique temporary name in the same folder and renamed into
    place, so a browser or a second run never reads half a page.
    """
    root = data_root(data)
    folder = root if isinstance(root, Path) else settings.monitoring_dir()
    page = Path(out) if out is not None else folder / PAGE_NAME
    if page.is_dir():
        raise CourseError(f"{page} is a folder: give --out a file name such as {PAGE_NAME}")
    try:
        page.parent.mkdir(parents=True, exist_ok=True)  # before the work: fail fast
        text = render(gather(root, thresholds))
        temporary = page.with_name(f".{page.name}.{uuid.uuid4().hex}.tmp")
        try:
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, page)
        finally:
            temporary.unlink(missing_ok=True)
    except OSError as exc:
        raise CourseError(f"could not write the dashboard to {page}: {exc.strerror}") from None
    return page


def render(data: DashboardData) -> str:
    """The whole page for gathered data: the empty state when there is no prediction."""
    if data.empty:
        return _page(
            "NACE API monitoring",
            f'<div class="empty"><h2>No predictions yet</h2><p>{html.escape(EMPTY_MESSAGE)}</p>'
            f"<p>Data folder: <code>{html.escape(str(data.root))}</code></p></div>",
            script="",
        )
    cards = []
    for chart in CHARTS:
        figure = chart.draw(data)
        div = pio.to_html(
            figure,
            full_html=False,
            include_plotlyjs=False,
            div_id=f"chart-{chart.key}",
            config=PLOTLY_CONFIG,
        )
        cards.append(
            f'<section class="card{" wide" if chart.wide else ""}" id="{chart.key}">'
            f"<h2>{html.escape(chart.title)}</h2><p>{html.escape(chart.caption)}</p>{div}</section>"
        )
    body = _header(data) + _boxes(data) + f'<main class="grid">{"".join(cards)}</main>' + _footer()
    return _page(_title(data), body, script=get_plotlyjs())


def _title(data: DashboardData) -> str:
    first, last = data.overview["first_day"], data.overview["last_day"]
    return f"NACE API monitoring, {first:%Y-%m-%d} → {last:%Y-%m-%d}"


def _header(data: DashboardData) -> str:
    names = [f"{row.model_name} v{row.model_version}" for row in data.models.itertuples()]
    models = ", ".join(names[-MODELS_SHOWN:])  # the latest; a hostile log cannot flood the page
    if len(names) > MODELS_SHOWN:
        models = f"{models} (and {len(names) - MODELS_SHOWN} earlier)"
    badge = '<span class="badge">simulated traffic</span>' if data.overview["simulated"] else ""
    return (
        f"<header><h1>{html.escape(_title(data))}{badge}</h1>"
        f'<div class="meta">model {html.escape(models)} · data {html.escape(str(data.root))}'
        "</div></header>"
    )


def _boxes(data: DashboardData) -> str:
    overview, latency, alert = data.overview, data.latency, data.alert
    colour = STATUS_COLOURS[alert.status]
    boxes = [
        _box(
            f"{int(overview['predictions']):,}",
            "predictions",
            f"{int(overview['requests']):,} requests",
        ),
        _box(
            f"{data.high_confidence:.0%}",
            f"top probability above {data.thresholds.high_confidence:g}",
            "over all predictions",
            GREEN,
        ),
        _box(
            f"{latency['p50_ms']:.1f} ms",
            "latency p50 per request",
            f"p99 {latency['p99_ms']:.1f} ms",
        ),
        _box(
            html.escape(alert.status.value),
            f"drift state{f' on {alert.day}' if alert.day else ''}",
            html.escape(alert.summary()),
            colour,
            box_id="drift-state",
        ),
    ]
    return f'<div class="boxes">{"".join(boxes)}</div>'


def _box(value: str, label: str, sub: str, colour: str = "#2c6fbb", box_id: str = "") -> str:
    ident = f' id="{box_id}"' if box_id else ""
    style = f"border-top-color: {colour}"
    value_style = f' style="color: {colour}"' if colour != "#2c6fbb" else ""
    return (
        f'<div class="box"{ident} style="{style}"><div class="value"{value_style}>{value}</div>'
        f'<div class="label">{html.escape(label)}</div><div class="sub">{sub}</div></div>'
    )


def _footer() -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"<footer>Written {stamp} by <code>course dashboard</code>; the alert is "
        "<code>course monitor --check</code>. Nomenclature: Insee, NAF rév. 2.</footer>"
    )


def _page(title: str, body: str, script: str) -> str:
    plotly = f'<script type="text/javascript">{script}</script>' if script else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style>{plotly}</head>"
        f"<body>{body}</body></html>\n"
    )
