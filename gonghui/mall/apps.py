from django.apps import AppConfig


class MallConfig(AppConfig):
    name = "gonghui.mall"
    label = "mall"
    verbose_name = "积分商城"
