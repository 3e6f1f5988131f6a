from django.apps import AppConfig


class CouponsConfig(AppConfig):
    name = "gonghui.coupons"
    label = "coupons"
    verbose_name = "券"
