from importlib import import_module

from django.apps import AppConfig


class SignUpConfig(AppConfig):
    name = "gonghui.activities.kinds.signup"
    label = "activity_signup"
    verbose_name = "报名"

    def ready(self) -> None:
        from gonghui.activities import registry

        registry.register(import_module(f"{self.name}.kind").KIND)
