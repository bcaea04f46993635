"""Drift metrics: equal to hand-computed references, quiet on the same distribution, loud on a
shift of half a standard deviation or on changed category shares."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lakeside.monitoring import drift


def test_psi_and_js_equal_their_formulas_on_known_shares():
    baseline = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    recent = pd.Series(["a"] * 30 + ["b"] * 30 + ["c"] * 40)
    b, r = np.array([0.5, 0.3, 0.2]), np.array([0.3, 0.3, 0.4])

    expected_psi = sum((ri - bi) * math.log(ri / bi) for bi, ri in zip(b, r))
    m = (b + r) / 2
    kl = lambda p, q: sum(pi * math.log2(pi / qi) for pi, qi in zip(p, q))  # noqa: E731
    expected_js = math.sqrt((kl(b, m) + kl(r, m)) / 2)

    assert drift.psi(baseline, recent) == pytest.approx(expected_psi)
    assert drift.js(baseline, recent) == pytest.approx(expected_js)
    assert drift.ks(baseline, recent) is None


def test_numeric_bins_are_the_baseline_deciles_and_ks_is_the_largest_cdf_gap():
    baseline = pd.Series(np.arange(1000, dtype=float))
    recent = pd.Series(np.arange(500, 1500, dtype=float))

    base, new = drift.shares(baseline, recent)

    assert base == pytest.approx([0.1] * 10)
    assert new == pytest.approx([0.0] * 5 + [0.1] * 4 + [0.6])
    assert drift.ks(baseline, recent) == pytest.approx(0.5)
    assert drift.ks(baseline, recent) == pytest.approx(stats.ks_2samp(baseline, recent).statistic)


def test_the_same_distribution_is_quiet_and_a_half_sd_shift_is_not():
    rng = np.random.default_rng(7)
    baseline = pd.Series(rng.normal(20, 8, 5000))
    same = pd.Series(rng.normal(20, 8, 2000))
    shifted = pd.Series(rng.normal(24, 8, 2000))

    quiet, loud = drift.drift("dti", baseline, same), drift.drift("dti", baseline, shifted)

    assert quiet.psi < 0.05 and quiet.ks < 0.05 and quiet.js < 0.05
    assert loud.psi > 0.2 and loud.ks > 0.15 and loud.js > 0.1
    assert (loud.baseline_rows, loud.recent_rows) == (5000, 2000)


def test_changed_category_shares_drift_and_nulls_are_left_out():
    rng = np.random.default_rng(3)
    baseline = pd.Series(rng.choice(["A", "B", "C"], 5000, p=[0.5, 0.3, 0.2]))
    changed = pd.Series(rng.choice(["A", "B", "C", None], 2000, p=[0.2, 0.3, 0.4, 0.1]))

    result = drift.drift("grade", baseline, changed)

    assert result.kind == "categorical" and result.ks is None
    assert result.psi > 0.2 and result.js > 0.1
    assert result.recent_rows == changed.notna().sum()


def _months(rng, size: int, shift_years: int = 0) -> pd.Series:
    """Dates of first credit line as silver holds them (Python dates, one per month, ~30 years)."""
    months = rng.integers(0, 360, size)
    return pd.Series([pd.Timestamp(1985 + shift_years + m // 12, m % 12 + 1, 1).date() for m in months])


def test_dates_are_ordered_values_quiet_on_the_same_months_and_loud_on_a_shift():
    rng = np.random.default_rng(7)
    baseline, same, shifted = _months(rng, 6000), _months(rng, 2000), _months(rng, 2000, shift_years=5)

    quiet, loud = drift.drift("earliest_cr_line", baseline, same), drift.drift("earliest_cr_line", baseline, shifted)

    assert quiet.kind == "temporal"
    assert quiet.js < 0.05 and quiet.psi < 0.05 and quiet.ks < 0.05
    assert loud.js > 0.1 and loud.psi > 0.2 and loud.ks > 0.1


def test_recent_dates_sent_as_text_or_timestamps_compare_with_baseline_dates():
    baseline = pd.Series([pd.Timestamp("2001-01-01").date(), pd.Timestamp("2001-02-01").date()] * 50)
    as_text = pd.Series(["2001-01-01", "2001-02-01"] * 50)
    as_timestamps = pd.Series(pd.to_datetime(as_text, utc=True))

    assert drift.psi(baseline, as_text) == pytest.approx(0.0, abs=1e-12)
    assert drift.ks(baseline, as_timestamps) == pytest.approx(0.0)
