"""Reviews: a human as a function call.

A service that reaches a checkpoint asks `checkpoint_check`; when a policy fires, it opens a `ReviewRequest`
in its own transaction and returns paused. People take requests from their queue (a lease), decide, and the
request's continuation (registered by the app that owns the checkpoint) runs after commit, once. Reviews
know nothing of markets or agents: the owning apps register their checkpoints and continuations
(`checkpoints.py`) at start-up, as they connect to extension points.
"""
