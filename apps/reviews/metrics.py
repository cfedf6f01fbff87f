"""The review queue's gauges on /metrics (apps/core/metrics.py): how many requests wait for a person, and for
how long the oldest has, per checkpoint. A checkpoint with nothing open has no series."""

from prometheus_client.core import GaugeMetricFamily, Metric

from apps.core.metrics import gauges
from apps.reviews.selectors import open_by_checkpoint


@gauges("reviews")
def review_queue() -> list[Metric]:
    depth = GaugeMetricFamily(
        "credence_review_queue_depth", "Open review requests (pending or assigned).", labels=["checkpoint"]
    )
    age = GaugeMetricFamily(
        "credence_review_queue_oldest_age_seconds", "Age of the oldest open review request.", labels=["checkpoint"]
    )
    for checkpoint, count, oldest in open_by_checkpoint():
        depth.add_metric([checkpoint], count)
        age.add_metric([checkpoint], oldest.total_seconds())
    return [depth, age]
