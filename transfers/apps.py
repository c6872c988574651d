from django.apps import AppConfig


class TransfersConfig(AppConfig):
    name = 'transfers'
    verbose_name = 'Copy and deletion requests, and the per-replica transfer and deletion records'
