"""The model's input contract in numbers, importable without loading the ML stack.

The pyfunc wrapper enforces them and the API documents them; a plain HTTP
client reads them too, so this module imports nothing.
"""

from __future__ import annotations

MAX_K = 50
"""Most ranked codes one prediction returns (param ``k``)."""
MAX_TEXT_CHARS = 1_000
"""Only the first 1,000 characters are read (the register's field holds 140)."""
