"""Reviews' extension points (apps/core/extensions.py): the apps above reviews hear of requests without reviews
importing them. Both are isolated (for display: a failing listener is undone and logged, never failing the
request's transaction)."""

from apps.core.extensions import ExtensionPoint

request_opened = ExtensionPoint(
    "reviews.request_opened",
    when="a review request opened, in its transaction (request, the user ids it waits for)",
    isolated=True,
)
request_moved = ExtensionPoint(
    "reviews.request_moved",
    when="a request left or came back to people's review queues (its last seat taken, a seat back from an "
    "expired lease, finished with seats open), in that transaction (request, the user ids whose queues)",
    isolated=True,
)
request_finished = ExtensionPoint(
    "reviews.request_finished",
    when="a review request was decided, timed out, escalated or cancelled, in that transaction (request)",
    isolated=True,
)
