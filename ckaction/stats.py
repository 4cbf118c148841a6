"""Honest statistics for a metric's mean delta: a t-based 95% confidence interval over paired rows.

Pure Python (no SciPy at run time): Student's t quantiles for small samples come from a table, and
the normal quantile from the standard library beyond it, where the two agree to three decimals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from statistics import NormalDist

# t(0.975, df) for df = 1..30
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
METHOD = "t-based 95% CI over paired rows"


def t_quantile_975(df: int) -> float:
    if df < 1:
        raise ValueError("degrees of freedom must be at least 1")
    if df <= len(_T975):
        return _T975[df - 1]
    # Cornish-Fisher expansion around the normal quantile: accurate to 1e-4 for df > 30.
    z = NormalDist().inv_cdf(0.975)
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int
    standard_error: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def mean_interval(values: Sequence[Decimal | float]) -> Interval | None:
    """The mean with a 95% t interval; None with fewer than two values (no spread to measure)."""
    n = len(values)
    if n < 2:
        return None
    data = [float(v) for v in values]
    mean = math.fsum(data) / n
    variance = math.fsum((x - mean) ** 2 for x in data) / (n - 1)
    standard_error = math.sqrt(variance / n)
    half = t_quantile_975(n - 1) * standard_error
    return Interval(
        mean=mean, low=mean - half, high=mean + half, n=n, standard_error=standard_error
    )


def underpowered(interval: Interval | None, tolerance: Decimal) -> bool:
    """True when the interval is too wide to tell a drop of `tolerance` from noise."""
    if interval is None:
        return True
    return interval.half_width >= abs(float(tolerance)) > 0
