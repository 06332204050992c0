"""The book: a strict build from the executed solutions, checked in a real browser."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from course_lib.course.book import build_book
from tests.conftest import ROOT

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def toc_pages() -> list[str]:
    """Every page of the table of contents, as paths without extension: the chapters and
    the sections under them (chapter 3's going-further page is one)."""

    def with_sections(entries: list[dict]) -> list[str]:
        return [p for e in entries for p in [e["file"], *with_sections(e.get("sections", []))]]

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [p for part in toc["parts"] for p in with_sections(part["chapters"])]


@pytest.fixture(scope="session")
def built_book(executed_solutions, tmp_path_factory) -> Path:
    """The book built in a copy of the sources (the working tree stays untouched)."""
    root = tmp_path_factory.mktemp("book-source")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "book", root / "book", ignore=shutil.ignore_patterns("apps"))
    shutil.copytree(ROOT / "infra", root / "infra")  # literalinclude-d by ch3_serving.md
    # What a checkout holds besides the book must not reach the strict build
    (root / ".pytest_cache").mkdir()
    (root / ".pytest_cache" / "README.md").write_text("# pytest cache directory\n")
    index = build_book(root, list(executed_solutions.values()))
    assert index.exists()
    return index.parent


@pytest.mark.notebook
def test_every_toc_page_is_built(built_book):
    for page in toc_pages():
        assert (built_book / f"{page}.html").exists(), page


@pytest.mark.browser
@pytest.mark.parametrize("page_path", toc_pages())
def test_page_renders_in_a_browser(browser, built_book, page_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto((built_book / f"{page_path}.html").as_uri())
    heading = page.locator("main h1").first.inner_text()
    assert heading.strip(), f"{page_path} has no title"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{page_path.replace('/', '_')}.png"), full_page=True)
    if "/apps/" in f"/{page_path}":
        assert page.locator(".cell_output").count() > 0, f"{page_path} shows no executed output"
        assert page.locator(".cell_output .output.error, .output.traceback").count() == 0
        assert "# Parameters" not in page.locator("#main-content").inner_text()  # papermill
    page.close()


@pytest.mark.browser
@pytest.mark.parametrize("page_path", [p for p in toc_pages() if "/apps/" in f"/{p}"])
def test_solutions_are_folded_until_clicked(browser, built_book, page_path):
    page = browser.new_page()
    page.goto((built_book / f"{page_path}.html").as_uri())
    folded = page.locator("details.hide")
    assert folded.count() > 0, "no folded solution"
    first = folded.first
    assert first.get_attribute("open") is None
    code = first.locator(".cell_input")
    assert not code.is_visible()
    first.locator("summary").click()
    assert first.get_attribute("open") is not None and code.is_visible()
    page.close()


@pytest.mark.browser
def test_chapter_4_shows_the_dashboard_the_executed_lab_wrote(browser, built_book):
    """The iframe of chapter 4 loads the page Application 4 wrote, and its charts draw
    from the JavaScript embedded in it (file://, no server, no network)."""
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    attempted: list[str] = []
    page.on("request", lambda request: attempted.append(request.url))
    page.goto((built_book / "book" / "ch4_monitoring.html").as_uri())
    frame = page.frame_locator("iframe[title^='Monitoring dashboard']")
    frame.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=30_000)
    assert frame.locator(".js-plotly-plot").count() >= 6
    assert not [url for url in attempted if url.startswith(("http://", "https://"))]
    page.close()
