"""/docs and /redoc work with no internet: every asset comes from the API itself."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser

from course_lib.model.training import TrainResult
from course_lib.serving.process import ApiProcess, running_api
from tests.conftest import SMALL

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def api(small_model: TrainResult) -> Iterator[ApiProcess]:
    """Without a proxy prefix: the page's own URLs must answer when followed."""
    with running_api(model=SMALL.model_name, version="champion") as process:
        yield process


def test_the_documentation_renders_from_the_api_alone(browser: Browser, api: ApiProcess) -> None:
    """Any request to another host would fail on a laptop offline or in a closed cluster."""
    requested: list[str] = []
    page = browser.new_page()
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(f"{api.url}/docs", wait_until="networkidle")
        page.wait_for_selector(".opblock", timeout=30_000)  # the operations, rendered
        text = page.inner_text("body")
    finally:
        page.close()
    assert "NACE activity code API" in text and "/predict" in text
    hosts = {urlsplit(url).netloc for url in requested if not url.startswith(("data:", "blob:"))}
    assert hosts == {urlsplit(api.url).netloc}, requested
