"""Chapter 3 and its going-further page: the reference moved out of the chapter stays
reachable from it, the option lists the page gives are the commands' own, and its
benchmark table is the committed run.

The page says it lists every option of `course serve` and of `course manifests`; a
new option added to a command without the page would make that untrue, so the lists
are compared with the commands' parameters, not with a copy typed here. Likewise the
benchmark figures are read from `benchmarks/serving.json`: measuring again without
updating the page fails here.
"""

from __future__ import annotations

import json
import re

import pytest
import typer

from course_lib.cli import app
from tests.conftest import ROOT

CH3 = (ROOT / "book" / "ch3_serving.md").read_text(encoding="utf-8")
PAGE = (ROOT / "book" / "ch3_going_further.md").read_text(encoding="utf-8")
LABEL = re.compile(r"^\((ch3-further-[\w-]+)\)=$", re.MULTILINE)
REF = re.compile(r"\{ref\}`(?:[^`<]*<)?(ch3-further-[\w-]+)>?`")


def section(label: str) -> str:
    """The text of the page's section that `label` marks, up to the next label."""
    start = PAGE.index(f"({label})=")
    following = LABEL.search(PAGE, start + 1)
    return PAGE[start : following.start() if following else len(PAGE)]


def options_of(command: str) -> set[str]:
    """The long options of a `course` command, as click sees them (--help left out)."""
    click_command = typer.main.get_command(app).commands[command]
    names = {name for param in click_command.params for name in param.opts}
    return {name for name in names if name.startswith("--")} - {"--help"}


def test_every_section_of_the_page_is_linked_from_the_chapter():
    labels = set(LABEL.findall(PAGE))
    assert len(labels) >= 10  # the labels were found
    assert set(REF.findall(CH3)) == labels


@pytest.mark.parametrize(
    ("command", "label"),
    [("serve", "ch3-further-serve"), ("manifests", "ch3-further-manifests")],
)
def test_the_page_lists_every_option_of_the_command(command, label):
    quoted = set(re.findall(r"`(--[a-z][a-z-]*)", section(label)))
    assert quoted == options_of(command)


def test_the_defaults_the_page_gives_for_course_serve_are_the_command_s():
    params = {p.name: p for p in typer.main.get_command(app).commands["serve"].params}
    text = " ".join(section("ch3-further-serve").split())
    assert "`--host` (default `127.0.0.1`" in text and params["host"].default == "127.0.0.1"
    assert "`--port` (default `8000`)" in text and params["port"].default == 8000


def test_the_benchmark_table_is_the_committed_run():
    """The page's table quotes `benchmarks/serving.json`, the run the README quotes too."""
    run = json.loads((ROOT / "benchmarks" / "serving.json").read_text(encoding="utf-8"))
    rate, (one, eight), load = run["throughput"], run["latency"], run["endurance"]
    assert run["machine"]["cpus"] == 2 and one["clients"] == 1 and eight["clients"] == 8
    table = section("ch3-further-benchmarks")
    rows = [
        f"| 1 client | {rate['get_per_row_s']:.2f} s "
        f"({rate['get_per_row_rows_per_s']:,.0f} descriptions/s) |",
        f"| 1 request | {rate['batch_post_s']:.3f} s "
        f"({rate['batch_post_rows_per_s']:,.0f} descriptions/s) |",
        f"| {rate['speedup']:.0f}×, same predictions |",
        *(
            f"{lat['p50_ms']:.1f} ms / {lat['p99_ms']:.1f} ms "
            f"({lat['requests_per_s']:.0f} requests/s)"
            for lat in (one, eight)
        ),
        f"{load['requests']:,} requests ({load['requests_per_s']:.0f}/s), "
        f"{load['errors']} errors, p99 {load['p99_ms']:.1f} ms",
        f"{load['rss_first_mb']:.1f} MB → {load['rss_last_mb']:.1f} MB "
        f"(+{100 * load['rss_growth']:.2f} %)",
        f"The batch is {rate['speedup']:.0f} times faster",
        f"from {one['p50_ms']:.1f} to {eight['p50_ms']:.1f} ms",
        f"{eight['requests_per_s']:.0f} against {one['requests_per_s']:.0f}",
    ]
    assert rate["same_predictions"] and load["errors"] == 0
    assert [row for row in rows if row not in " ".join(table.split())] == []
    # The chapter itself rounds two of them
    chapter = " ".join(CH3.split())
    assert f"about {round(rate['speedup'], -1):.0f} times faster" in chapter
    assert f"takes about {round(load['rss_first_mb'], -1):.0f} MB" in chapter
