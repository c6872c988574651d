from django.apps import AppConfig


class FileopsConfig(AppConfig):
    name = 'fileops'
    verbose_name = 'File operations (transfers and deletions on storage)'
