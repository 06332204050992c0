"""The example descriptions the course shows: one list for every place that needs some.

They are logged with every model as its input example, offered by the API's
``/docs``, and predicted at the end of ``course train``: register style (upper
case, no accents) and typed style (lower case, accents, an apostrophe).
"""

from __future__ import annotations

EXAMPLES: list[str] = [
    "BOULANGERIE PATISSERIE",
    "coiffure mixte",
    "vendeur d'huîtres sur les marchés",
    "CONSEIL EN INFORMATIQUE",
]
"""A list, not a tuple: an MLflow model takes a list of strings (or a DataFrame) as input."""
