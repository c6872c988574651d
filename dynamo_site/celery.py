"""Celery application (policies and periodic tasks). Never runs user applications."""
import os

from celery import Celery

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'dynamo_site.settings')

app = Celery('dynamo')
app.config_from_object('django.conf:settings', namespace='CELERY')
app.autodiscover_tasks()
