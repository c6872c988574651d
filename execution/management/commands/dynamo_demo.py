"""First run: load a small demo inventory (if the inventory is empty) with its partitions and quotas,
and create an admin user."""
import logging
import os
import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from dynamo_site.cli import require_database
from detox import partitions
from execution import writepath
from execution.topology import TOPOLOGY
from inventory.models import Dataset
from policy import parse_partitions

DEMO = Path(__file__).resolve().parents[3] / 'inventory' / 'fixtures' / 'demo.json'
PARTITIONS = DEMO.parent / 'partitions.txt'
# bytes, so that the pages show real occupancies: T2_US_MIT holds 9.0 GB (AnalysisOps), T1_CH_CERN_Disk
# 11.5 GB (DataOps); Physics = AnalysisOps + DataOps
QUOTAS = {('T2_US_MIT', 'Default'): 10 * 10 ** 9, ('T2_US_MIT', 'AnalysisOps'): 10 * 10 ** 9,
          ('T2_US_MIT', 'DataOps'): 2 * 10 ** 9, ('T1_CH_CERN_Disk', 'Default'): 20 * 10 ** 9,
          ('T1_CH_CERN_Disk', 'AnalysisOps'): 5 * 10 ** 9, ('T1_CH_CERN_Disk', 'DataOps'): 15 * 10 ** 9}


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
            self.stdout.write(_partitions_and_quotas())
        User = get_user_model()
        if not User.objects.filter(is_superuser=True).exists():
            password = os.environ.get('DYNAMO_ADMIN_PASSWORD') or secrets.token_urlsafe(9)
            User.objects.create_superuser('admin', '', password)
            self.stdout.write(f'Admin user created: admin / {password}  (http://127.0.0.1:8000/admin/)')


def _partitions_and_quotas():
    """The demo's partitions and quotas, as one change set through the write path."""
    definitions = parse_partitions(PARTITIONS.read_text(), str(PARTITIONS))
    changes = partitions.partition_operations(partitions.state_from_database(), definitions)
    quotas = partitions.quota_operations([partitions.QuotaChange(site, name, 0, quota)
                                          for (site, name), quota in QUOTAS.items()])
    outcome = partitions.submit(changes.operations + quotas, origin=partitions.origin('dynamo_demo'))
    if not outcome.ok:
        raise CommandError(f'the demo partitions and quotas: {outcome.message}')
    return (f'Partitions {", ".join(d.name for d in definitions)} and {len(QUOTAS)} quotas loaded '
            f'({outcome.message}).')
