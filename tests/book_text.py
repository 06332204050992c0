"""Reading a book page's markdown in tests that hold the page to the code."""

from __future__ import annotations


def table_row(page: str, first_cell: str) -> list[str]:
    """The cells of the first table row of ``page`` whose first cell is ``first_cell``."""
    for line in page.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row starts with {first_cell!r}")
