from django.apps import AppConfig


class OrchestratorConfig(AppConfig):
    name = "orchestrator"
    verbose_name = "Orchestrator"

    def ready(self) -> None:
        from config import chaos
        from orchestrator.messages import after_publish_add

        if chaos.ENABLED:  # the chaos harness's duplicates, on every message published
            after_publish_add(chaos.maybe_duplicate)
