"""Show the schedule (every entry, its last run, outcome and next run), its runs, or start an
entry's cycle now."""
import time

from django.conf import settings
from django.core.management.base import CommandError

from dynamo_site.cli import DynamoCommand, require_database, table
from schedule import selectors, services


class Command(DynamoCommand):
    help = ('The schedule of periodic cycles ([schedule] of the server configuration, docs/schedule.md): every entry '
            'with its last run, outcome and next run; --runs lists runs; --run-now NAME submits the entry\'s cycle '
            'to the primary server at once (--wait for its outcome).')
    examples = '''
        python manage.py dynamo_schedule
        python manage.py dynamo_schedule --run-now dealer --wait
        python manage.py dynamo_schedule --runs track_requests
    '''

    def add_arguments(self, parser):
        parser.add_argument('--run-now', metavar='NAME', help="submit the entry's cycle now")
        parser.add_argument('--wait', action='store_true', help='with --run-now: wait for the outcome')
        parser.add_argument('--timeout', type=float, default=7200, help='seconds --wait waits at most')
        parser.add_argument('--runs', metavar='NAME', nargs='?', const='', help='list the runs (of one entry)')

    def handle(self, *args, **o):
        require_database()
        if o['run_now']:
            return self.run_now(o['run_now'], o['wait'], o['timeout'])
        services.runs_settle()
        if o['runs'] is not None:
            rows = selectors.runs(entry=o['runs'] or None, limit=50)
            table([[r['id'], r['entry'], r['slot'], r['by'], r['state'], r['application'] or '', r['message'][:80]]
                   for r in rows], ['#', 'entry', 'slot', 'by', 'state', 'application', 'message'], self.stdout)
            return
        self.stdout.write(f'run by: {selectors.mode()}')
        rows = []
        for e in selectors.overview():
            last, outcome = e['last_run'], e['last_outcome']
            rows.append([e['name'], e['cycle'], e['every'], e['file'] or '-',
                         f'{last["created"][:19]} {last["state"]}' if last else 'never',
                         f'{outcome["state"]}: {outcome["message"][:60]}' if outcome else '-',
                         e['next_run'][:19] if e['next_run'] else f'off ({e["disabled"]})'])
        table(rows, ['entry', 'cycle', 'every', 'file', 'last run', 'outcome', 'next run'], self.stdout)

    def run_now(self, name, wait, timeout):
        entry = settings.DYNAMO_SCHEDULE.get(name)
        if entry is None:
            raise CommandError(f'no schedule entry {name} (known: {", ".join(sorted(settings.DYNAMO_SCHEDULE))})')
        try:
            run = services.entry_run_now(entry, by=f'manual:{services.scheduler_name("dynamo_schedule")}')
        except services.NotSubmitted as exc:
            raise CommandError(f'{name}: {exc}') from None
        self.stdout.write(f'{name}: {run.message} (run {run.id})')
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while run.state in ('submitted', 'running') and time.monotonic() < deadline:
            time.sleep(0.5)
            run = services.run_settle(run)
        self.stdout.write(f'{name}: {run.state}: {run.message}')
        if run.state != 'done':
            raise CommandError(f'{name}: the run did not succeed ({run.state})')
