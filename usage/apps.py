from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = 'usage'
    verbose_name = 'Usage history (per site and partition)'

    def ready(self):
        from execution import builtins
        builtins.register(name='usage', run='usage.cycle:run', commit='usage.cycle:commit', target='inventory',
                          title='Usage sample')
