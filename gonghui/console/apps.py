from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "gonghui.console"
    label = "console"
