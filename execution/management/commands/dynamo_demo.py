"""First run: load a small demo inventory (if the inventory is empty) and create an admin user."""
import logging
import os
import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from dynamo_site.cli import require_database
from execution import writepath
from execution.topology import TOPOLOGY
from inventory.models import Dataset

DEMO = Path(__file__).resolve().parents[3] / 'inventory' / 'fixtures' / 'demo.json'


class Command(BaseCommand):
    help = 'Load the demo inventory into an empty database and create the "admin" superuser.'

    def handle(self, *args, **options):
        logging.getLogger('dynamo').setLevel(logging.WARNING)
        require_database()
        TOPOLOGY.resolve_primary()
        if Dataset.objects.exists():
            self.stdout.write('The inventory is not empty: demo data not loaded.')
        else:
            outcome = writepath.submit_document(kind='inject', text=DEMO.read_text(), err=self.stderr)
            if not outcome.ok:
                raise CommandError(outcome.message)
            self.stdout.write(outcome.report.splitlines()[0])
        User = get_user_model()
        if not User.objects.filter(is_superuser=True).exists():
            password = os.environ.get('DYNAMO_ADMIN_PASSWORD') or secrets.token_urlsafe(9)
            User.objects.create_superuser('admin', '', password)
            self.stdout.write(f'Admin user created: admin / {password}  (http://127.0.0.1:8000/admin/)')
