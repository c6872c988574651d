from django.apps import AppConfig


class TransfersConfig(AppConfig):
    name = 'transfers'
    verbose_name = 'Copy and deletion requests, and the per-replica transfer and deletion records'

    def ready(self):
        from execution import builtins
        from webmodules.registry import register_app_module
        register_app_module('request', 'transfers.webmodule')
        builtins.register(name='track_requests', run='transfers.tracking:run', commit='transfers.tracking:commit',
                          target='request', title='Request tracking')
