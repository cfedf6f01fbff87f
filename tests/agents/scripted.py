"""A strategy the agents tests script: its configuration lists the steps it takes (orders, a question to its owner,
a wait at a gate file, a named hook, a simulated death of its worker), so a test says exactly what a run does.
Registered in the test process while the agents tests run, and in a test's Celery worker
(`celery worker -I tests.agents.scripted` with CREDENCE_TEST_WORKER=1)."""

import os
import time
from pathlib import Path

from apps.agents.strategies.base import REGISTRY, Strategy

GATE_WAIT_SECONDS = 60
HOOKS: dict = {}  # name -> function(ctx), for in-process tests


class WorkerDied(BaseException):
    """What killing a worker mid-run looks like in-process: nothing in run_execute catches it."""


class Scripted(Strategy):
    key = "scripted"
    label = "Scripted (tests)"
    description = "Takes the steps its configuration lists."
    properties = {
        "steps": {"type": "array", "items": {"type": "object"}, "default": []},
        "attempts": {"type": "string", "default": ""},
    }

    def run(self, ctx, config: dict) -> None:
        if config["attempts"]:
            with Path(config["attempts"]).open("a") as attempts:
                attempts.write(f"{os.getpid()}\n")
        for step in config["steps"]:
            do = step["do"]
            if do == "order":
                ctx.order(step["claim"], amount=step["amount"], belief=step.get("belief"), side=step.get("side"))
            elif do == "ask":
                answer = ctx.ask_human(
                    step["question"],
                    schema=step["schema"],
                    timeout=step.get("timeout", 3600),
                    default=step.get("default"),
                )
                ctx.decide(None, "answered", f"The owner said {answer!r}", answer=answer)
            elif do == "wait":
                gate, deadline = Path(step["gate"]), time.monotonic() + GATE_WAIT_SECONDS
                while gate.exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
            elif do == "die_once":
                marker = Path(step["marker"])
                if not marker.exists():
                    marker.touch()
                    raise WorkerDied()
            elif do == "hook":
                HOOKS[step["name"]](ctx)
            elif do == "fail":
                raise RuntimeError(step.get("message", "scripted failure"))
            elif do == "read":
                ctx.claims()


def register() -> None:
    REGISTRY["scripted"] = Scripted


def unregister() -> None:
    REGISTRY.pop("scripted", None)
    HOOKS.clear()


if os.environ.get("CREDENCE_TEST_WORKER") == "1":
    register()
    if os.environ.get("CREDENCE_TEST_QUEUE"):  # a run the worker queues (a resumed one) comes back to it
        from config.celery import app

        app.conf.task_routes = {"agents.run": {"queue": os.environ["CREDENCE_TEST_QUEUE"]}}
