from django.apps import AppConfig


class DealerConfig(AppConfig):
    name = 'dealer'
    verbose_name = 'Dealer (placement by plugins)'

    def ready(self):
        from execution import builtins
        from webmodules.registry import register_app_module
        builtins.register(name='dealer', run='dealer.app:run', commit='dealer.services:commit_cycle',
                          target='dealer', title='Dealer')
        register_app_module('dealer', 'dealer.webmodule')
