from importlib import import_module

from django.apps import AppConfig


class LotteryConfig(AppConfig):
    name = "gonghui.activities.kinds.lottery"
    label = "activity_lottery"
    verbose_name = "抽奖"

    def ready(self) -> None:
        from gonghui.activities import registry

        registry.register(import_module(f"{self.name}.kind").KIND)
