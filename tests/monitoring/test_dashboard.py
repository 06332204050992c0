"""The dashboard: one offline HTML page, every chart, the alert's own state."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser
from plotly.offline import get_plotlyjs
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.errors import CourseError
from course_lib.monitoring import dashboard_figures as figures
from course_lib.monitoring.alerts import evaluate_alerts
from course_lib.monitoring.dashboard import EMPTY_MESSAGE, dashboard_html, write_dashboard
from course_lib.monitoring.dashboard_data import gather
from course_lib.monitoring.dashboard_figures import CHARTS
from tests.monitoring import synthetic

PLOTLY_BANNER = re.compile(r"\* plotly\.js v\d+\.\d+\.\d+")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four weeks with a change in the last one, two model versions, refusals."""
    root = tmp_path_factory.mktemp("monitoring")
    changed = replace(synthetic.stable().shifted("H", 0.32), low_share=0.42)
    frame = synthetic.history(days=28, per_weekday=1_200, change_day=21, changed=changed, seed=3)
    frame.loc[frame["date"] >= synthetic.START.replace(day=20), "model_version"] = "2"
    synthetic.write_datasets(root, frame, synthetic.refused_rows(days=28))
    return root


@pytest.fixture(scope="module")
def page(data: Path) -> Path:
    return write_dashboard(data)


class Fetches(HTMLParser):
    """What a browser would fetch from a page: src/href/data attributes, CSS imports and
    urls; and the scripts' texts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "poster", "action") and value:
                self.urls.append(value)
            if name == "style" and value:
                self.styles.append(value)
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, text: str) -> None:
        if self._in == "script":
            self.scripts.append(text)
        elif self._in == "style":
            self.styles.append(text)


def parse(text: str) -> Fetches:
    parser = Fetches()
    parser.feed(text)
    return parser


def test_the_page_has_every_chart_and_plotly_once(page: Path, data: Path) -> None:
    assert page == data / "dashboard.html"
    text = page.read_text(encoding="utf-8")
    for chart in CHARTS:
        assert f"<h2>{html.escape(chart.title)}</h2>" in text
        assert f'id="chart-{chart.key}"' in text
    assert len(PLOTLY_BANNER.findall(text)) == 1
    assert text.count(get_plotlyjs()) == 1
    assert text.count("Plotly.newPlot(") == len(CHARTS)


def test_nothing_on_the_page_is_fetched_from_the_network(page: Path) -> None:
    parsed = parse(page.read_text(encoding="utf-8"))
    assert parsed.urls == []  # no script src, link href, img src at all: everything inline
    for css in parsed.styles:
        assert "@import" not in css and "url(" not in css
    bundle = get_plotlyjs()
    figures = [script for script in parsed.scripts if script != bundle]
    assert len(figures) == len(CHARTS)
    for script in figures:
        assert "http://" not in script and "https://" not in script


def test_the_header_says_dates_models_and_simulated(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "NACE API monitoring, 2026-11-02 → 2026-11-29" in text
    assert "fasttext v1, fasttext v2" in text
    assert '<span class="badge">simulated traffic</span>' in text


def test_the_drift_box_shows_the_alerts_own_state(page: Path, data: Path) -> None:
    state = evaluate_alerts(data)
    text = page.read_text(encoding="utf-8")
    box = re.search(r'<div class="box" id="drift-state".*?</div></div>', text).group(0)
    assert state.status.value == "ALERT"
    assert f">{state.status.value}</div>" in box
    assert html.escape(state.summary()) in box
    assert "#c0392b" in box  # red


def test_the_page_is_aggregates_not_rows(page: Path, data: Path) -> None:
    size = page.stat().st_size
    charts = size - len(get_plotlyjs().encode())
    assert charts < 300_000, charts  # 17,000 predictions, a few hundred KB at most
    assert "description 1" not in page.read_text(encoding="utf-8")  # no raw text


def test_an_empty_folder_gives_the_empty_state(tmp_path: Path) -> None:
    page = write_dashboard(tmp_path)
    text = page.read_text(encoding="utf-8")
    assert html.escape(EMPTY_MESSAGE) in text
    assert PLOTLY_BANNER.search(text) is None and page.stat().st_size < 10_000
    assert dashboard_html(tmp_path / "missing").count(html.escape(EMPTY_MESSAGE)) == 1


def test_hostile_logs_are_escaped_and_cannot_flood_the_page(tmp_path: Path) -> None:
    frame = synthetic.history(days=9, per_weekday=400)
    frame["model_name"] = "<script>alert(1)</script>"
    frame["model_version"] = (frame.index % 50).astype(str)
    frame["prediction_1"] = frame["prediction_1"].where(frame.index % 2 == 0, "</script><b>x")
    refused = synthetic.refused_rows(days=9, per_day=40)
    refused["status"] = 400 + refused.index % 30
    synthetic.write_datasets(tmp_path, frame, refused)
    text = dashboard_html(tmp_path)
    assert "<script>alert(1)" not in text and "</script><b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "(and 46 earlier)" in text  # 4 of the 50 versions named
    assert len(figures.refused(gather(tmp_path)).data) == 6  # 5 statuses and "other"


def test_written_in_place_atomically_and_bad_outputs_are_named(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "site" / "monitoring.html"
    assert write_dashboard(data, out) == out and out.stat().st_size > 1_000_000
    assert sorted(p.name for p in out.parent.iterdir()) == ["monitoring.html"]  # no temp left
    with pytest.raises(CourseError, match="is a folder"):
        write_dashboard(data, tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CourseError, match="could not write the dashboard"):
        write_dashboard(data, blocker / "dashboard.html")


def test_course_dashboard_writes_the_page(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    result = CliRunner().invoke(app, ["dashboard", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"dashboard written to {out}" in result.output and out.exists()


@pytest.mark.browser
def test_the_page_renders_offline_in_chromium(browser: Browser, page: Path) -> None:
    """Every request but the page itself is aborted and recorded: there must be none,
    every chart must draw, and the console must stay clean."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    attempted: list[str] = []

    def route(request_route) -> None:
        url = request_route.request.url
        if url.startswith(("file://", "data:", "blob:", "about:")):
            request_route.continue_()
        else:
            attempted.append(url)
            request_route.abort()

    context.route("**/*", route)
    tab = context.new_page()
    errors: list[str] = []
    tab.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    tab.on("pageerror", lambda error: errors.append(str(error)))
    requested: list[str] = []
    tab.on("request", lambda request: requested.append(request.url))
    try:
        tab.goto(page.as_uri(), wait_until="load")
        tab.wait_for_function(
            f"document.querySelectorAll('.js-plotly-plot').length === {len(CHARTS)} && "
            "[...document.querySelectorAll('.js-plotly-plot')]"
            ".every(p => p.querySelector('.main-svg'))",
            timeout=30_000,
        )
        drawn = tab.locator(".js-plotly-plot").count()
        bars = tab.locator("#chart-drift-psi .bars .point").count()
        state = tab.inner_text("#drift-state .value")
    finally:
        context.close()
    assert drawn == len(CHARTS)
    assert bars == 28  # one PSI bar a day
    assert state == "ALERT"
    assert attempted == [], attempted
    assert {urlsplit(url).scheme for url in requested} <= {"file", "data", "blob"}, requested
    assert errors == [], errors
