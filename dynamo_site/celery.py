"""Celery application (policies and periodic tasks). Never runs user applications."""
import os

from celery import Celery

from dynamo_site.signals import unblock_inherited

unblock_inherited()   # a worker's SIGTERM (warm shutdown) must arrive whatever started it
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'dynamo_site.settings')

app = Celery('dynamo')
app.config_from_object('django.conf:settings', namespace='CELERY')
app.autodiscover_tasks()
