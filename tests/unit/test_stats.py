import math

import pytest

from ckaction.stats import mean_interval, t_quantile_975, underpowered


def test_interval_against_a_hand_computed_case():
    # deltas -1, 0, 0, 1, -2: mean -0.4, sample sd sqrt(1.3), se sqrt(1.3/5) = 0.50990,
    # t(0.975, 4) = 2.776, half width 1.41549
    interval = mean_interval([-1, 0, 0, 1, -2])
    assert interval is not None
    assert interval.mean == pytest.approx(-0.4)
    assert interval.half_width == pytest.approx(2.776 * math.sqrt(1.3 / 5), abs=1e-9)
    assert interval.low == pytest.approx(-1.81549, abs=1e-5)
    assert interval.high == pytest.approx(1.01549, abs=1e-5)


def test_large_samples_use_the_normal_limit():
    assert t_quantile_975(30) == 2.042
    assert t_quantile_975(31) == pytest.approx(2.0395, abs=2e-4)
    assert t_quantile_975(10_000) == pytest.approx(1.96, abs=1e-3)


def test_identical_deltas_have_a_zero_width_interval():
    interval = mean_interval([0.0] * 20)
    assert interval is not None and interval.low == interval.high == 0


def test_underpowered_when_half_width_reaches_the_tolerance():
    wide = mean_interval([-2, 2, -2, 2])
    narrow = mean_interval([0.0, 0.1] * 50)
    from decimal import Decimal

    assert underpowered(wide, Decimal("-0.2"))
    assert not underpowered(narrow, Decimal("-0.2"))
    assert underpowered(None, Decimal("-0.2"))
