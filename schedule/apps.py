from django.apps import AppConfig


class ScheduleConfig(AppConfig):
    name = 'schedule'
    verbose_name = 'The schedule of periodic cycles'

    def ready(self):
        from execution import embedded
        from schedule.embedded import start
        from webmodules.registry import register_app_module
        embedded.register('schedule', start)
        register_app_module('schedule', 'schedule.webmodule')
