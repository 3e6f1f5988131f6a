from importlib import import_module

from django.apps import AppConfig


class RushConfig(AppConfig):
    name = "gonghui.activities.kinds.rush"
    label = "activity_rush"
    verbose_name = "抢票"

    def ready(self) -> None:
        from gonghui.activities import registry

        registry.register(import_module(f"{self.name}.kind").KIND)
