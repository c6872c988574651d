"""Set the quota of a partition at sites (bytes: --volume 120TB is 120*10^12, TiB binary), or dump them."""
import logging

from django.core.management.base import CommandError

from detox import partitions
from dynamo_site.cli import DynamoCommand, require_database
from policy import format_size, parse_size


def show(quota):
    if quota < 0:
        return 'unlimited'
    return '0 (nothing allowed)' if quota == 0 else f'{format_size(quota)} ({quota} B)'


class Command(DynamoCommand):
    help = ('Set the quota of --partition at the sites matching --site: --volume SIZE (120TB, 1.5PiB; 0 allows '
            'nothing, negative means unlimited) or --scale FACTOR (times the present quota). For a '
            'superpartition its subpartitions change in proportion. --dump prints the quotas.')
    examples = '''
        python manage.py set_quota --site 'T2_*' --partition AnalysisOps --volume 120TB
        python manage.py set_quota --site T2_US_MIT,T2_CH_CERN --partition Physics --scale 0.8
        python manage.py set_quota --site T1_CH_CERN_Disk --partition Default --volume -1   # unlimited
        python manage.py set_quota --dump --site 'T2_*'
    '''

    def add_arguments(self, parser):
        parser.add_argument('--site', help='site name patterns, comma-separated (shell wildcards)')
        parser.add_argument('--partition', help='partition name')
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument('--volume', help='the quota: bytes or a size with a unit (120TB, 500 GiB)')
        what.add_argument('--scale', type=float, help='multiply the present quota by this factor')
        what.add_argument('--dump', action='store_true', help='print the quotas (filtered by --site, --partition)')
        parser.add_argument('--timeout', type=float, default=600, help='seconds to wait for the server')

    def handle(self, *args, **o):
        logging.getLogger('dynamo').setLevel(logging.WARNING)
        require_database()
        state = partitions.state_from_database()
        sites = partitions.matching_sites(state, o['site'] or '*')
        if o['dump']:
            names = [o['partition']] if o['partition'] else list(state.partitions)
            for name in names:
                if name not in state.partitions:
                    raise CommandError(f'no partition {name!r}')
            for site in sites:
                for name in names:
                    quota = state.quota(site, name)
                    if quota or o['partition']:
                        kind = ' (sum of ' + ', '.join(state.partitions[name][1]) + ')' if state.is_super(name) else ''
                        self.stdout.write(f'{site:24} {name:16} {show(quota)}{kind}')
            return
        if not o['site'] or not o['partition']:
            raise CommandError('--site and --partition are required to set a quota')
        if not sites:
            raise CommandError(f'no site matches {o["site"]!r}')
        try:
            volume = None if o['volume'] is None else parse_size(o['volume'])
            changes = partitions.quota_changes(state, sites=sites, partition=o['partition'], volume=volume,
                                               scale=o['scale'])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        outcome = partitions.submit(partitions.quota_operations(changes), origin=partitions.origin('set_quota'),
                                    timeout=o['timeout'])
        if not outcome.ok:
            raise CommandError(outcome.message)
        for c in changes:
            self.stdout.write(f'{c.site:24} {c.partition:16} {show(c.old)} -> {show(c.new)}')
        self.stdout.write(outcome.message if changes else 'nothing to change: the quotas are already so')
