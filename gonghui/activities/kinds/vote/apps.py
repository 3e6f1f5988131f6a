from importlib import import_module

from django.apps import AppConfig


class VoteConfig(AppConfig):
    name = "gonghui.activities.kinds.vote"
    label = "activity_vote"
    verbose_name = "投票"

    def ready(self) -> None:
        from gonghui.activities import registry

        registry.register(import_module(f"{self.name}.kind").KIND)
