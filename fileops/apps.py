from django.apps import AppConfig


class FileopsConfig(AppConfig):
    name = 'fileops'
    verbose_name = 'File operations (transfers and deletions on storage)'

    def ready(self):
        from execution import builtins, embedded
        from webmodules.registry import register_app_module
        builtins.register(name='updater', run='fileops.updater:run', commit='fileops.updater:commit',
                          target='fileops', title='File operations updater')
        builtins.register(name='consistency', run='fileops.consistency:run', commit='fileops.consistency:commit',
                          target='fileops', title='Storage consistency checks')
        embedded.register('fileops', _start_pool)
        register_app_module('fileops', 'fileops.webmodule')
        register_app_module('consistency', 'fileops.consistency_webmodule')


def _start_pool(stop_event):
    from fileops import pool
    return pool.start(stop_event)
