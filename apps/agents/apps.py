from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "apps.agents"
    label = "agents"
    verbose_name = "Hosted agents"

    def ready(self) -> None:
        # The built-in strategies, the `agents.run` continuation (a review an agent's run asked resumes it) and
        # the listeners that turn events into runs: a worker needs them as much as the web process.
        from apps.agents import continuation, strategies  # noqa: F401
