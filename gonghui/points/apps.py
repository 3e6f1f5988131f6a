from django.apps import AppConfig


class PointsConfig(AppConfig):
    name = "gonghui.points"
    label = "points"
    verbose_name = "积分"

    def ready(self) -> None:
        from gonghui.points import receivers

        receivers.connect()
