from django.apps import AppConfig


class NewsConfig(AppConfig):
    name = "gonghui.news"
    label = "news"
    verbose_name = "资讯"
