from importlib import import_module

from django.apps import AppConfig


class SurveyConfig(AppConfig):
    name = "gonghui.activities.kinds.survey"
    label = "activity_survey"
    verbose_name = "问卷"

    def ready(self) -> None:
        from gonghui.activities import registry

        registry.register(import_module(f"{self.name}.kind").KIND)
