"""The one place that touches prometheus-client's private attributes.

A histogram has no public way to add many observations at once, and
``observe()`` one by one is what the auth path's tally exists to avoid
(service/auth_tally.py). Adding to a bucket's and the sum's stored values
is what ``observe()`` itself does, a bucket and the sum per call; this
does it once per bucket for a whole fold. ``tests/unit/test_auth_tally.py``
pins it: a fold gives the exposition that observing each value gives.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Histogram


def bucket_bounds(histogram: Histogram) -> tuple[float, ...]:
    """The histogram's upper bounds, ``+Inf`` last, as ``observe()`` walks them."""
    return tuple(histogram._upper_bounds)


def add_observations(
    histogram: Histogram, per_bucket: Sequence[int], total: float
) -> None:
    """Adds ``per_bucket[i]`` observations to bucket ``i`` (not cumulative,
    as ``observe()`` stores them) and ``total`` to the sum."""
    buckets = histogram._buckets
    if len(per_bucket) != len(buckets):
        msg = f"{len(per_bucket)} counts for {len(buckets)} buckets"
        raise ValueError(msg)
    for value, count in zip(buckets, per_bucket, strict=True):
        if count:
            value.inc(count)
    histogram._sum.inc(total)
