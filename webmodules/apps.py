from django.apps import AppConfig


class WebmodulesConfig(AppConfig):
    name = 'webmodules'
    verbose_name = 'Web modules'
