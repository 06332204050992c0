"""The numbers the monitoring layer judges a day by: confidence cuts, drift limits, volumes.

They live in one light module (no pandas, no DuckDB) so that the queries, the
drift indicators, the alert and the dashboard read the same values, and a
reader finds in one place where each comes from.  Each drift limit was
checked on simulated traffic (``tests/monitoring/test_drift.py``: thousands of
stable days give no flag, planted changes are flagged within days); the
figures of that check are quoted in the docstrings below.

:class:`Thresholds` bundles them so a test or a notebook can try other
values (``Thresholds(psi_alert=0.1)``) without touching the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

HIGH_CONFIDENCE = 0.8
"""A prediction is "high confidence" when its top probability is above this.

The course's own indicator ("% of predictions with a top probability above
0.8"): counted over predictions (descriptions), never over requests."""

LOW_CONFIDENCE = 0.5
"""A prediction is "low confidence" when its top probability is below this: the
model gives the code less than even odds, the answer a person should check."""

REFERENCE_DAYS = 7
"""Days at the start of the history that serve as the reference: one full week,
so the reference holds every weekday and the weekend (their mixes differ)."""

MIN_DAILY_VOLUME = 300
"""Below this many predictions a day is "not enough data", neither OK nor alert.

Under no change the PSI of a day of ``n`` predictions against a large reference
is about chi-square(k - 1) / n (k ≈ 21 sections): 0.06 on average at n = 300.
Measured on 200,000 simulated days at exactly n = 300 (training mix, multinomial
sampling): 1 in 100,000 above :data:`PSI_ALERT`; at n = 200, 2 in 1,000, and a
quiet day of 100 reaches 0.3 by chance alone.  Judging such a day would be a
false alarm; saying so is more honest.  (``course traffic``'s Sundays carry 15 %
of a weekday: about 300 at its default of 2,000.)"""

MIN_REFERENCE_VOLUME = 2_000
"""A reference window with fewer predictions is "not enough history": its own
sampling noise would then add to every day's PSI."""

PSI_WARN = 0.1
"""PSI above which the section mix "moved" (drawn on the dashboard, not alerting).

0.1 and 0.25 are the usual rules of thumb of credit scoring, where the PSI
comes from (stable below 0.1, some change up to 0.25, a major shift above)."""

PSI_ALERT = 0.2
"""PSI above which the predicted-section mix of a day has drifted: the alert.

Between the two credit-scoring cut-offs, and checked on simulated stable
traffic (``tests/monitoring/test_drift.py``, 20 years of days at 500, 2,000 and
10,000 predictions a weekday, Sundays at 15 %): none of about 19,000 judged
days was flagged, the largest PSI was 0.15 (a Sunday near 300 predictions).
As a picture of what it catches: moving transport (H) from 9 % to 25 % of the
predictions, the others shrinking in proportion, is a PSI of 0.2; to 30 %, 0.31."""

PSI_PSEUDO_COUNT = 0.5
"""Added to every section's count on both sides before the PSI (additive, Jeffreys-style
smoothing): a section absent from one side would otherwise make ln(p / 0) infinite.
Half a prediction is negligible next to a day's hundreds, and sections absent on
both sides are left out rather than smoothed."""

LOW_CONFIDENCE_MARGIN = 0.10
"""Alert when the day's low-confidence share exceeds the reference's by more than this
(10 percentage points).  A share's noise on the smallest day judged (n = 300,
p ≈ 0.3) is 2.6 points, so 10 points is almost four standard errors, and five
or more on ordinary days: stable days do not reach it, a model that starts
hesitating on a new kind of description does."""

LENGTH_CHANGE = 0.25
"""Alert when the day's mean description length (characters) differs from the
reference's by more than this fraction, either way.  Lengths are skewed
(coefficient of variation about 0.7): at n = 300 the mean's noise is about
4 %, so 25 % is six standard errors; a form that truncates descriptions or a
new channel that sends bare keywords crosses it."""

UNKNOWN_MARGIN = 0.05
"""Alert when the day's share of words the model never saw exceeds the reference's
by more than this (5 percentage points).  Words come in descriptions of a few
words each, so the noise is about a point at n = 300; typos, abbreviations or
another language push it up by several."""

CONFIDENCE_BIN = 0.05
"""Width of the bins of the confidence histogram (20 bins from 0 to 1)."""


@dataclass(frozen=True)
class Thresholds:
    """All the limits of one evaluation (defaults: the constants of this module)."""

    high_confidence: float = HIGH_CONFIDENCE
    low_confidence: float = LOW_CONFIDENCE
    reference_days: int = REFERENCE_DAYS
    min_daily_volume: int = MIN_DAILY_VOLUME
    min_reference_volume: int = MIN_REFERENCE_VOLUME
    psi_warn: float = PSI_WARN
    psi_alert: float = PSI_ALERT
    psi_pseudo_count: float = PSI_PSEUDO_COUNT
    low_confidence_margin: float = LOW_CONFIDENCE_MARGIN
    length_change: float = LENGTH_CHANGE
    unknown_margin: float = UNKNOWN_MARGIN


THRESHOLDS = Thresholds()
"""The defaults every command uses."""
