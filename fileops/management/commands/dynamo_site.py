"""The storage of a site: its backend and filename mapping (in the inventory, through the write path),
how its files move (gfal2 or its FTS3 server) and its limits; and the PFN of an LFN there."""
import json

from django.core.management.base import CommandError

from dynamo_site.cli import DynamoCommand, require_database


class Command(DynamoCommand):
    help = ('Show or set the storage of SITE: --backend URL (PFN = backend + LFN), --mapping FILE (chains of '
            '[lfn regex, pfn format] per protocol), the executor (--fts URL or --gfal2), --max-active, '
            '--lfn-roots; --lfn2pfn LFN prints the PFN of LFN at SITE.')
    examples = '''
        python manage.py dynamo_site T2_XX_A --backend file:///data/T2_XX_A
        python manage.py dynamo_site T2_XX_B --backend root://se.example:1094//store --mapping mapping.json
        python manage.py dynamo_site T2_XX_B --lfn2pfn /store/mc/X/Y/file.root
        python manage.py dynamo_site T1_XX_C --fts https://fts3.example:8446 --proxy /tmp/x509up_u500
        python manage.py dynamo_site T2_XX_A --max-active 20 --lfn-roots /store/mc,/store/data
        python manage.py dynamo_site T2_XX_A                      # show its storage settings
    '''

    def add_arguments(self, parser):
        parser.add_argument('site')
        parser.add_argument('--backend', help="the site's storage URL (file://, root://, davs://, https://)")
        parser.add_argument('--mapping', metavar='FILE',
                            help='JSON filename mapping {protocol: [[[lfn_regex, pfn_format], ...], ...]}; - removes it')
        parser.add_argument('--lfn2pfn', metavar='LFN', help='print the PFN of LFN at the site')
        parser.add_argument('--protocol', default='gfal2', help='--lfn2pfn: the protocol of the mapping')
        executor = parser.add_mutually_exclusive_group()
        executor.add_argument('--fts', metavar='URL', help="move the site's files through this FTS3 server")
        executor.add_argument('--gfal2', action='store_true', help="move the site's files through gfal2 (default)")
        parser.add_argument('--proxy', help='--fts: the X.509 proxy to present to the FTS3 server')
        parser.add_argument('--max-active', help="tasks at once at the site, or 'default'")
        parser.add_argument('--lfn-roots', help='comma-separated LFN roots that consistency checks list')

    def handle(self, *args, **o):
        require_database()
        from fileops import selectors, services
        from fileops.pfn import PfnError, resolve_pfn
        from inventory.models import Site
        from inventory.objects import ObjectError
        site = o['site']
        row = Site.objects.filter(name=site).first()
        if row is None:
            raise CommandError(f'no site {site} in the inventory')
        if o['lfn2pfn']:
            try:
                self.stdout.write(resolve_pfn(o['lfn2pfn'], backend=row.backend, protocol=o['protocol'],
                                              filename_mapping=json.loads(row.filename_mapping or '{}')))
            except PfnError as exc:
                raise CommandError(str(exc))
            return
        mapping = None
        if o['mapping'] == '-':
            mapping = {}
        elif o['mapping']:
            try:
                with open(o['mapping']) as f:
                    mapping = services.mapping_from_document(json.load(f))
            except OSError as exc:
                raise CommandError(f'cannot read {o["mapping"]}: {exc.strerror}')
            except ValueError as exc:
                raise CommandError(f'{o["mapping"]}: {exc}')
        if o['backend'] is not None or mapping is not None:
            try:
                seq, changes = services.site_inventory_storage_set(site=site, backend=o['backend'],
                                                                   filename_mapping=mapping,
                                                                   origin=f'dynamo_site {site}')
            except ObjectError as exc:
                raise CommandError(str(exc))
            self.stdout.write(f'{site}: storage changed in the inventory (change set {seq})' if changes else
                              f'{site}: the inventory had this storage already')
        if any(o[k] is not None for k in ('fts', 'proxy', 'max_active', 'lfn_roots')) or o['gfal2']:
            max_active = o['max_active']
            if max_active not in (None, 'default') and not (max_active.isdigit() and int(max_active) > 0):
                raise CommandError("--max-active: a positive number, or 'default'")
            try:
                services.site_storage_set(
                    site=site, executor='fts3' if o['fts'] else 'gfal2' if o['gfal2'] else None,
                    fts_endpoint=o['fts'], x509_proxy=o['proxy'],
                    max_active=int(max_active) if max_active not in (None, 'default') else None,
                    clear_max_active=max_active == 'default', lfn_roots=o['lfn_roots'])
            except ValueError as exc:
                raise CommandError(str(exc))
        row.refresh_from_db()
        storage = selectors.site_storage(site)
        self.stdout.write(f'site       {site}')
        self.stdout.write(f'backend    {row.backend or "(none)"}')
        mapping_now = json.loads(row.filename_mapping or '{}')
        self.stdout.write(f'mapping    {json.dumps(mapping_now) if mapping_now else "(none: PFN = backend + LFN)"}')
        self.stdout.write(f'executor   {storage.executor if storage else "gfal2"}'
                          + (f' ({storage.fts_endpoint})' if storage and storage.fts_endpoint else ''))
        self.stdout.write(f'max active {storage.max_active if storage and storage.max_active else "default"}')
        self.stdout.write(f'lfn roots  {storage.lfn_roots if storage and storage.lfn_roots else "default"}')
