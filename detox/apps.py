from django.apps import AppConfig


class DetoxConfig(AppConfig):
    name = 'detox'
    verbose_name = 'Detox (deletion by policy)'
