from django.apps import AppConfig


class DetoxConfig(AppConfig):
    name = 'detox'
    verbose_name = 'Detox (deletion by policy)'

    def ready(self):
        from execution import builtins
        from webmodules.registry import register_app_module
        builtins.register(name='detox', run='detox.app:run', commit='detox.services:commit_cycle', target='detox',
                          title='Detox')
        builtins.register(name='detox_explain', run='detox.app:run_explain', commit='detox.services:commit_explain',
                          target='detox', title='Detox explain')
        register_app_module('detox', 'detox.webmodule')
