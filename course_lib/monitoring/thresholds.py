"""The numbers the monitoring layer judges a day by: confidence cuts, drift limits, volumes.

They live in one light module (no pandas, no DuckDB) so that the queries, the
drift indicators, the alert and the dashboard read the same values, and a
reader finds in one place where each comes from.

How a day is judged (:mod:`course_lib.monitoring.drift`): an indicator alerts
when it moved from the reference week by more than its effect-size threshold
below (what is worth a person's attention) **and** by more than
:data:`NOISE_Z` standard errors of sampling noise at that day's volume (what
chance alone cannot do).  Checked two ways (figures quoted below):

- on synthetic days (``tests/monitoring/test_drift.py``, slow tests): no
  alert in 27,636 stable days at 300 to 10,000 predictions a weekday, and 2
  in a further 11,814 days of 300 (other seeds), about the design rate of 1 in
  10,000; a change that builds up over three days is flagged on its first or
  second day;
- on ``course traffic`` itself (28 days with the planted change, and 84 days
  without, seeds 0-2 with the tests' small model, 0-1 with the default
  model): the change is flagged from its first day (default model: more
  low-confidence answers) or its second (small model: shorter descriptions,
  more unknown words, then the section mix), and on every day after it,
  quiet Sundays of under 300 predictions included; none of the 385 days
  without change was flagged.

:class:`Thresholds` bundles them so a test or a notebook can try other
values (``Thresholds(psi_alert=0.05)``) without touching the defaults.
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

MIN_DAILY_VOLUME = 100
"""Below this many predictions a day is "not enough data", neither OK nor alert.

Above it the noise limits (:data:`NOISE_Z`) keep quiet days from alerting by
chance; below it the normal approximations behind them are no longer safe,
and only an enormous change could be told from noise anyway."""

MIN_REFERENCE_VOLUME = 2_000
"""A reference window with fewer predictions is "not enough history": its own
sampling noise would then add to every day's."""

NOISE_Z = 4.0
"""A day alerts only when its deviation is also beyond this many standard errors of
sampling noise at its volume (one-sided tail 3 in 100,000; for the PSI, the
chi-square quantile of the same tail).  Four indicators a day, each below that
rate: about one chance false alarm in 10,000 days, some 30 years of daily
checks (measured: 2 in 39,450 simulated stable days)."""

PSI_ALERT = 0.1
"""PSI of the predicted-section mix above which a day has drifted (when beyond noise).

0.1 and 0.25 are the usual rules of thumb of credit scoring, where the PSI
comes from (stable below 0.1, some change up to 0.25, a major shift above).
0.1 rather than 0.25 because the noise limit, not this threshold, is what
keeps stable days quiet: on a weekday of 2,000 predictions chance alone gives
0.01 to 0.03, on a Sunday of 300 up to 0.2 (and the limit there is about 0.19).
As a picture: moving transport (H) from 9 % to 20 % of the predictions, the
others shrinking in proportion, is a PSI of 0.1; the planted change of
``course traffic`` reaches 0.1 to 0.2 at full strength."""

PSI_PSEUDO_COUNT = 0.5
"""Added to every section's count on both sides before the PSI (additive, Jeffreys-style
smoothing): a section absent from one side would otherwise make ln(p / 0) infinite.
Half a prediction is negligible next to a day's hundreds, and sections absent on
both sides are left out rather than smoothed."""

LOW_CONFIDENCE_MARGIN = 0.05
"""Alert when the day's low-confidence share exceeds the reference's by more than this
(5 percentage points, when beyond noise): one answer in twenty more that a person
should check."""

LENGTH_CHANGE = 0.15
"""Alert when the day's typical description length (geometric mean, characters) is
more than this fraction longer than the reference's, or as much shorter on the
log scale (÷ 1.15), when beyond noise: a form that truncates descriptions, or a
new channel that sends bare keywords."""

UNKNOWN_MARGIN = 0.02
"""Alert when the day's share of words the model never saw exceeds the reference's by
more than this (2 percentage points, when beyond noise): typos, abbreviations,
another language, or an activity the training data never described."""

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
    psi_alert: float = PSI_ALERT
    psi_pseudo_count: float = PSI_PSEUDO_COUNT
    low_confidence_margin: float = LOW_CONFIDENCE_MARGIN
    length_change: float = LENGTH_CHANGE
    unknown_margin: float = UNKNOWN_MARGIN
    noise_z: float = NOISE_Z


THRESHOLDS = Thresholds()
"""The defaults every command uses."""
