"""Check a site's storage against the inventory (here, now) and record the report; the updater acts
on it (missing files transferred again, old orphans deleted) unless it is a dry run or over the
threshold."""
import time

from django.core.management.base import CommandError

from dynamo_site.cli import DynamoCommand, require_database


class Command(DynamoCommand):
    help = ('List the storage of --site under its LFN roots (gfal2, or --dump FILE: lines "SIZE MTIME PATH") and '
            'compare it with the inventory; the updater then acts on the differences.')
    examples = '''
        python manage.py dynamo_consistency --site T2_XX_B --dry-run
        python manage.py dynamo_consistency --site T2_XX_B --wait 120
        python manage.py dynamo_consistency --site T1_XX_C --dump /var/dumps/T1_XX_C.txt.gz --threshold 0.02
    '''

    def add_arguments(self, parser):
        parser.add_argument('--site', required=True)
        parser.add_argument('--dry-run', action='store_true', help='report only')
        parser.add_argument('--dump', metavar='FILE', help='a storage dump instead of a gfal2 listing')
        parser.add_argument('--root', action='append', dest='roots', help='an LFN root to list (repeatable)')
        parser.add_argument('--safety-days', type=float, help='orphans younger than this stay (default 28)')
        parser.add_argument('--threshold', type=float,
                            help='act only if missing and orphans are each at most this fraction of the site (0.01)')
        parser.add_argument('--wait', type=float, default=0, metavar='SECONDS',
                            help='wait this long for the updater to act, and print what it did')
        parser.add_argument('--show', type=int, default=20, help='print this many missing and orphan files')

    def handle(self, *args, **o):
        require_database()
        from fileops import consistency, services
        from fileops.models import EntryKind, ReportState
        try:
            roots = o['roots'] or consistency.site_storage(o['site'])[2]
            report = consistency.report_request(site=o['site'], dry_run=o['dry_run'], safety_days=o['safety_days'],
                                                threshold=o['threshold'], roots=roots, claim=services.new_claim(),
                                                source=f'dump {o["dump"]}' if o['dump'] else 'gfal2')
            listing = consistency.read_dump(o['dump'], o['site'], roots=roots) if o['dump'] else None
        except consistency.ConsistencyError as exc:
            raise CommandError(str(exc))
        report = consistency.run_check(report, listing=listing)
        self._print(report, o['show'], EntryKind)
        if report.state == ReportState.FAILED:
            raise CommandError(report.message)
        if report.state == ReportState.COMPARED and o['wait'] > 0:
            deadline = time.monotonic() + o['wait']
            while report.state == ReportState.COMPARED and time.monotonic() < deadline:
                time.sleep(1)
                report.refresh_from_db()
            self.stdout.write(f'{report.state}: {report.message}')

    def _print(self, report, show, kinds):
        self.stdout.write(f'consistency report {report.id} of {report.site}: {report.state} - {report.message}')
        self.stdout.write(f'  inventory files {report.inventory_files}, listed {report.listed_files}, '
                          f'missing {report.missing}, orphans {report.orphans} (+{report.young_orphans} younger than '
                          f'{report.safety_days:g} days), explained by operations in flight {report.skipped}')
        for kind in (kinds.MISSING, kinds.ORPHAN):
            entries = list(report.entries.filter(kind=kind).order_by('lfn')[:show])
            for e in entries:
                self.stdout.write(f'  {kind:8} {e.lfn}' + (f' ({e.action})' if e.action else ''))
