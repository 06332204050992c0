"""The dashboard's charts: one plotly figure per question, drawn from aggregates.

Each function takes the gathered :class:`~course_lib.monitoring.dashboard_data.DashboardData`
and returns a figure with no title of its own: the page puts the question
above it as a heading people can search and read, and a caption saying how
to read it.  Colours carry one meaning across the page: red is past a
threshold, green is confident, grey is "not judged" (reference or too few
predictions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from course_lib.data.nomenclature import dotted_code
from course_lib.errors import CourseError
from course_lib.monitoring.dashboard_data import DashboardData
from course_lib.monitoring.drift import DayStatus
from course_lib.monitoring.queries import section_labels

RED = "#c0392b"
ORANGE = "#e67e22"
GREEN = "#27ae60"
BLUE = "#2c6fbb"
GREY = "#b0b7c0"
SHADE = "rgba(44, 111, 187, 0.08)"
LABEL_CHARS = 48
"""Code labels are cut to this length on the bar chart's axis (the full label on hover)."""

STATUS_COLOURS = {
    DayStatus.OK.value: BLUE,
    DayStatus.DRIFT.value: BLUE,  # a PSI bar is red when the PSI itself is past its limit
    DayStatus.REFERENCE.value: GREY,
    DayStatus.LOW_VOLUME.value: GREY,
    DayStatus.NO_REFERENCE.value: GREY,
}


@dataclass(frozen=True)
class Chart:
    """A figure with the question it answers and how to read it."""

    key: str
    title: str
    caption: str
    draw: Callable[[DashboardData], go.Figure]
    wide: bool = False


def _layout(figure: go.Figure, height: int = 300, **extra: object) -> go.Figure:
    settings: dict[str, object] = {
        "template": "plotly_white",
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 10, "b": 40},
        "font": {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12},
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.18},
    }
    figure.update_layout(**(settings | extra))
    return figure


def _note(figure: go.Figure, text: str) -> go.Figure:
    """A chart with nothing to draw says why, in the middle of its axes."""
    figure.add_annotation(
        text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
        font={"size": 14, "color": "#666"},
    )  # fmt: skip
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return _layout(figure, height=220)


def _reference_band(figure: go.Figure, data: DashboardData, **where: object) -> None:
    ref = data.drift.reference
    if ref is None:
        return
    figure.add_vrect(
        x0=pd.Timestamp(ref.start) - pd.Timedelta(hours=12),
        x1=pd.Timestamp(ref.end) + pd.Timedelta(hours=12),
        fillcolor=SHADE, line_width=0, layer="below",
        annotation_text="reference", annotation_position="top left",
        annotation_font={"size": 10, "color": "#556"},
        **where,
    )  # fmt: skip


def volume(data: DashboardData) -> go.Figure:
    frame = data.volume
    weekend = pd.to_datetime(frame["date"]).dt.weekday >= 5
    figure = go.Figure(
        go.Bar(
            x=frame["date"],
            y=frame["predictions"],
            marker_color=[GREY if w else BLUE for w in weekend],
            customdata=frame[["requests"]],
            hovertemplate="%{y:,} predictions<br>%{customdata[0]:,} requests<extra></extra>",
            name="predictions",
        )
    )
    return _layout(figure, yaxis_title="predictions", hovermode="closest")


def high_confidence(data: DashboardData) -> go.Figure:
    frame = data.daily_high_confidence
    figure = go.Figure(
        go.Scatter(
            x=frame["date"], y=frame["share"], mode="lines+markers", line_color=GREEN,
            name="share above threshold", hovertemplate="%{y:.1%}<extra></extra>",
        )
    )  # fmt: skip
    figure.add_hline(
        y=data.high_confidence, line_dash="dot", line_color="#777",
        annotation_text=f"whole history {data.high_confidence:.0%}",
        annotation_position="bottom right",
    )  # fmt: skip
    return _layout(figure, yaxis={"tickformat": ".0%", "range": [0, 1], "title": "share"})


def latency(data: DashboardData) -> go.Figure:
    frame = data.daily_latency
    figure = go.Figure()
    for column, name, colour in (("p50_ms", "p50", BLUE), ("p99_ms", "p99", ORANGE)):
        figure.add_trace(
            go.Scatter(
                x=frame["date"], y=frame[column], mode="lines+markers", name=name,
                line_color=colour, hovertemplate=f"{name} %{{y:.1f}} ms<extra></extra>",
            )
        )  # fmt: skip
    return _layout(figure, yaxis_title="ms per request", yaxis_rangemode="tozero")


def refused(data: DashboardData) -> go.Figure:
    frame = data.refused
    figure = go.Figure()
    if frame.empty:
        return _note(figure, "No refused request")
    palette = [RED, ORANGE, "#8e44ad", "#7f8c8d", "#16a085", "#d35400"]
    common = frame.groupby("status")["refused"].sum().nlargest(len(palette) - 1).index
    named = (
        frame["status"]
        .where(frame["status"].isin(common))
        .map(lambda status: "other" if pd.isna(status) else f"HTTP {int(status)}")
    )
    frame = frame.assign(name=named).groupby(["name", "date"], as_index=False)["refused"].sum()
    for index, (status, rows) in enumerate(frame.groupby("name")):
        figure.add_trace(
            go.Bar(
                x=rows["date"], y=rows["refused"], name=status,
                marker_color=palette[index % len(palette)],
                hovertemplate=f"{status}: %{{y:,}}<extra></extra>",
            )
        )  # fmt: skip
    return _layout(figure, barmode="stack", yaxis_title="requests refused")


def top_codes(data: DashboardData) -> go.Figure:
    frame = data.top_codes.iloc[::-1]  # the largest at the top
    labels = frame["label"].fillna("(not a NAF rév. 2 code)").astype(str)
    names = [
        f"{_dotted(code)} · {_cut(label)}"
        for code, label in zip(frame["code"], labels, strict=True)
    ]
    figure = go.Figure(
        go.Bar(
            x=frame["share"], y=names, orientation="h", marker_color=BLUE,
            customdata=pd.DataFrame({"n": frame["predictions"], "label": labels}),
            hovertemplate="%{x:.1%} (%{customdata[0]:,})<br>%{customdata[1]}<extra></extra>",
        )
    )  # fmt: skip
    height = 120 + 24 * len(frame)
    _layout(figure, height=height, hovermode="closest", xaxis_tickformat=".0%")
    figure.update_layout(margin={"l": 10})
    figure.update_yaxes(automargin=True)
    return figure


def confidence(data: DashboardData) -> go.Figure:
    frame = data.histogram
    limits = data.thresholds
    width = float(frame["bin_start"].diff().min()) if len(frame) > 1 else 0.05
    colours = [
        RED if start + width <= limits.low_confidence + 1e-9
        else GREEN if start >= limits.high_confidence - 1e-9
        else GREY
        for start in frame["bin_start"]
    ]  # fmt: skip
    figure = go.Figure(
        go.Bar(
            x=frame["bin_start"] + width / 2, y=frame["predictions"], width=width * 0.95,
            marker_color=colours,
            customdata=pd.DataFrame({"lo": frame["bin_start"], "hi": frame["bin_start"] + width}),
            hovertemplate="%{customdata[0]:.2f}–%{customdata[1]:.2f}: %{y:,}<extra></extra>",
        )
    )  # fmt: skip
    for cut, text in (
        (limits.low_confidence, f"low < {limits.low_confidence:g}"),
        (limits.high_confidence, f"high > {limits.high_confidence:g}"),
    ):
        figure.add_vline(x=cut, line_dash="dot", line_color="#555", annotation_text=text)
    return _layout(
        figure, hovermode="closest", xaxis={"range": [0, 1], "title": "top probability"},
        yaxis_title="predictions",
    )  # fmt: skip


def sections(data: DashboardData) -> go.Figure:
    frame = data.sections
    shares = frame.pivot_table(
        index="date", columns="section", values="predictions", aggfunc="sum", fill_value=0
    )
    shares = shares.div(shares.sum(axis=1), axis=0)
    labels = section_labels()
    palette = qualitative.Dark24 + qualitative.Light24
    figure = go.Figure()
    for index, section in enumerate(shares.columns):
        name = f"{section} {_cut(labels.get(section, 'not a NAF code'), 28)}"
        figure.add_trace(
            go.Scatter(
                x=shares.index, y=shares[section], name=name, stackgroup="sections",
                mode="lines", line={"width": 0.5, "color": palette[index % len(palette)]},
                hovertemplate=f"{section}: %{{y:.1%}}<extra></extra>",
            )
        )  # fmt: skip
    _reference_band(figure, data)
    return _layout(
        figure, height=380, yaxis={"tickformat": ".0%", "range": [0, 1]},
        legend={"orientation": "v", "x": 1.02, "y": 1, "font": {"size": 10}},
        hovermode="closest",
    )  # fmt: skip


def psi(data: DashboardData) -> go.Figure:
    report = data.drift
    table = report.table
    limits = report.thresholds
    figure = go.Figure()
    if report.reference is None:
        return _note(figure, f"Not enough history yet: {report.reason}")
    figure.add_trace(
        go.Bar(
            x=table["date"], y=table["psi"], name="PSI",
            marker_color=[
                RED if flagged else STATUS_COLOURS[status]
                for flagged, status in zip(table["psi_flag"], table["status"], strict=True)
            ],
            customdata=table[["status", "predictions"]],
            hovertemplate="PSI %{y:.3f}<br>%{customdata[0]} (n=%{customdata[1]:,})<extra></extra>",
        )
    )  # fmt: skip
    alerts = table[table["psi_flag"]]
    figure.add_trace(
        go.Scatter(
            x=alerts["date"], y=alerts["psi"] * 1.05 + 0.01, mode="markers", name="alert",
            marker={"symbol": "triangle-down", "size": 12, "color": RED},
            hoverinfo="skip",
        )
    )  # fmt: skip
    figure.add_trace(
        go.Scatter(
            x=table["date"], y=table["psi_limit"], mode="lines", name="alert limit",
            line={"color": RED, "dash": "dash", "shape": "hvh", "width": 1.5},
            hovertemplate="limit %{y:.3f}<extra></extra>",
        )
    )  # fmt: skip
    _reference_band(figure, data)
    top = max(limits.psi_alert * 1.6, float(table["psi"].max(skipna=True) or 0) * 1.15)
    return _layout(
        figure, hovermode="closest", showlegend=False,
        yaxis={"title": "PSI vs reference", "range": [0, top]},
    )  # fmt: skip


def indicators(data: DashboardData) -> go.Figure:
    report = data.drift
    table = report.table
    figure = make_subplots(
        rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.09,
        subplot_titles=(
            "low-confidence share",
            "typical description length (chars, geometric mean)",
            "unknown-word share",
        ),
    )  # fmt: skip
    rows = (
        ("low_confidence_share", "low_confidence_flag", ["low_confidence_limit"], ".0%"),
        ("typical_chars", "length_flag", ["length_low", "length_high"], ".0f"),
        ("unknown_share", "unknown_flag", ["unknown_limit"], ".0%"),
    )
    for row, (column, flag, bounds, fmt) in enumerate(rows, start=1):
        figure.add_trace(
            go.Scatter(
                x=table["date"], y=table[column], mode="lines+markers", line_color=BLUE,
                marker_color=[RED if f else BLUE for f in table[flag]], showlegend=False,
                hovertemplate=f"%{{y:{fmt}}}<extra></extra>",
            ),
            row=row, col=1,
        )  # fmt: skip
        for bound in bounds:
            figure.add_trace(
                go.Scatter(
                    x=table["date"], y=table[bound], mode="lines", showlegend=False,
                    line={"color": RED, "dash": "dash", "shape": "hvh", "width": 1},
                    hovertemplate=f"limit %{{y:{fmt}}}<extra></extra>",
                ),
                row=row, col=1,
            )  # fmt: skip
        figure.update_yaxes(tickformat=fmt, rangemode="tozero", row=row, col=1)
    _reference_band(figure, data, row="all", col=1)
    _layout(figure, height=560, hovermode="closest")
    figure.update_layout(margin={"t": 30})
    return figure


CHARTS: tuple[Chart, ...] = (
    Chart(
        "volume",
        "Predictions per day",
        "Descriptions classified each day (weekends in grey); hover for the number of requests.",
        volume,
    ),
    Chart(
        "high-confidence",
        "Share of predictions with a top probability above 0.8, per day",
        "Over predictions, not requests. The dotted line is the whole history's share.",
        high_confidence,
    ),
    Chart(
        "latency",
        "Latency per request: p50 and p99, per day",
        "One value per request (a batch counts once): half are faster than p50, "
        "one in a hundred slower than p99.",
        latency,
    ),
    Chart(
        "refused",
        "Refused requests per day, by HTTP status",
        "422: invalid request; 413: batch too large; 503: model not ready.",
        refused,
    ),
    Chart(
        "top-codes",
        "Most predicted codes",
        "Share of all predictions whose top code is this one.",
        top_codes,
    ),
    Chart(
        "confidence",
        "Confidence of the top prediction",
        "How sure the model is of its first answer: red bars are low-confidence answers, "
        "green ones above 0.8.",
        confidence,
    ),
    Chart(
        "drift-psi",
        "Section-mix drift: PSI against the reference week",
        "Population stability index of each day's predicted-section mix against the "
        "reference (shaded). The dashed limit is the alert threshold, higher on quiet days "
        "where chance alone moves the mix. Red: past it; grey: reference days or too few "
        "predictions to judge.",
        psi,
        wide=True,
    ),
    Chart(
        "sections",
        "Sections of the predicted codes, per day",
        "Which part of the economy the traffic is about: a band that widens is what the "
        "PSI measures.",
        sections,
        wide=True,
    ),
    Chart(
        "drift-indicators",
        "Other drift indicators per day",
        "Against the reference week (shaded); dashed lines are the alert limits (wider on "
        "quiet days, where noise is larger), red points the days past them.",
        indicators,
        wide=True,
    ),
)
"""The page's charts, in reading order."""


def _dotted(code: object) -> str:
    try:
        return dotted_code(code)
    except CourseError:  # a code that is not NAF-shaped is shown as it came
        return str(code)


def _cut(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
