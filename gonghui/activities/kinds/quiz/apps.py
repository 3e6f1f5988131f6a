from importlib import import_module

from django.apps import AppConfig


class QuizConfig(AppConfig):
    name = "gonghui.activities.kinds.quiz"
    label = "activity_quiz"
    verbose_name = "答题"

    def ready(self) -> None:
        from gonghui.activities import registry

        registry.register(import_module(f"{self.name}.kind").KIND)
