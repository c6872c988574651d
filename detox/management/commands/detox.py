"""Run one Detox cycle on the running server (or a test run, or only check the policy), or explain
the decision on one replica."""
import json
import logging
import sys
import time

from django.conf import settings
from django.core.management.base import CommandError

from detox import partitions, policyfile, selectors
from dynamo_site.cli import DynamoCommand, require_database
from execution import client
from execution.topology import server_paths
from policy import (ConfigurationError, LockList, Locks, PolicyError, Providers, format_size, parse_now,
                    provider_from_config)

STOPPED = 3     # exit code of a cycle the safety valve stopped


class Command(DynamoCommand):
    help = ('Run one Detox cycle of the policy FILE on the running server and print a summary; --test-run '
            'changes nothing (it is recorded as a test cycle); --check only parses and type-checks the policy '
            'against the loaded partitions. --explain SITE DATASET says which line decided and why. Exit code '
            f'0, 2 for an invalid policy, {STOPPED} when the safety valve stopped the cycle.')
    examples = '''
        python manage.py detox --policy detox.txt --check
        python manage.py detox --policy detox.txt --test-run --now 2025-01-01
        python manage.py detox --policy detox.txt --comment 'weekly cleanup'
        python manage.py detox --policy detox.txt --force       # past the safety valve
        python manage.py detox --explain T2_US_MIT /SingleMuon/Run2026A-PromptReco-v1/MINIAOD
    '''

    def add_arguments(self, parser):
        parser.add_argument('--policy', metavar='FILE', help='the policy file')
        parser.add_argument('--test-run', '-T', action='store_true', help='decide and record, change nothing')
        parser.add_argument('--comment', default='', help='kept with the cycle')
        parser.add_argument('--check', action='store_true', help='only parse and type-check the policy')
        parser.add_argument('--now', metavar='TIME', help='the time relative times are read from (default: now)')
        parser.add_argument('--force', action='store_true',
                            help='commit even if more than --max-cycle-fraction of the partition would go')
        parser.add_argument('--max-cycle-fraction', type=float, default=0.1,
                            help='the safety valve: the most of the partition\'s used volume one cycle deletes')
        parser.add_argument('--providers', metavar='JSON',
                            help='attribute providers (a JSON list of entries, docs/policies.md); default '
                                 'DYNAMO_DETOX_PROVIDERS')
        parser.add_argument('--keep-cycles', type=int,
                            help='cycles that keep their decision rows (default DYNAMO_DETOX_KEEP_CYCLES or 20)')
        parser.add_argument('--explain', nargs=2, metavar=('SITE', 'DATASET'),
                            help='which line decided for the replica (the policy of the latest cycle without --policy)')
        parser.add_argument('--server', '-s', metavar='HOST:PORT', help='the local server serving this address')
        parser.add_argument('--async', '-A', dest='asynchronous', action='store_true',
                            help='print the application id and return')

    def handle(self, *args, **o):
        logging.getLogger('dynamo').setLevel(logging.WARNING)
        require_database()
        entries = _provider_entries(o['providers'])
        if o['explain']:
            return self.explain(o, entries)
        if not o['policy']:
            raise CommandError('--policy FILE is required')
        text = _read(o['policy'])
        now = _now(o['now'])
        if o['check']:
            return self.check_policy(o["policy"], text, now, entries)
        params = {'policy': text, 'filename': o['policy'], 'test': o['test_run'], 'comment': o['comment'],
                  'now': now, 'force': o['force'], 'max_cycle_fraction': o['max_cycle_fraction'],
                  'providers': entries, 'keep_cycles': o['keep_cycles']}
        start = time.monotonic()
        app_id, final, record = self.start('detox', params, o)
        if final is None:
            self.stdout.write(f'detox cycle submitted as application {app_id}')
            return
        if final['state'] != 'done':
            raise CommandError(f'application {app_id} {final["state"]}: '
                               f'{final.get("message") or record.get("message")}')
        summary = record['result']
        for line in summary_lines(summary, time.monotonic() - start):
            self.stdout.write(line)
        if summary['stopped'] and not summary['test']:
            sys.exit(STOPPED)

    def start(self, name, params, o):
        path = client.socket_path(server_paths(o['server'] or settings.DYNAMO_BIND)[0],
                                  explicit=bool(o['server'] or settings.DYNAMO_APP_SOCKET),
                                  servers_dir=settings.VAR_DIR / 'servers')
        try:
            return client.run_builtin(socket_path=path, name=name, params=params,
                                      asynchronous=o.get('asynchronous', False), out=self.stdout, err=self.stderr)
        except client.ClientError as exc:
            raise CommandError(str(exc)) from None

    def check_policy(self, filename, text, now, entries):
        try:
            providers = Providers([provider_from_config(e) for e in entries])
            if 'blockreplica.is_locked' not in providers:
                providers.add(Locks(LockList([])))       # the lock store is always there
            policy = policyfile.parse(text, filename, providers=providers, now=now, check=True)
        except (PolicyError, ConfigurationError) as exc:
            self.stderr.write(str(exc))
            sys.exit(2)
        state = partitions.state_from_database()
        if policy.partition not in state.partitions:
            self.stderr.write(f'{filename}: partition {policy.partition} is not loaded (known: '
                              f'{", ".join(state.partitions)}; see dynamo_partitions --load)')
            sys.exit(2)
        self.stdout.write(f'{filename}: valid; partition {policy.partition}, {len(policy.lines)} policy lines, '
                          f'{len(policy.on)} On, {len(policy.when)} When, {len(policy.until)} Until')
        for warning in policy.warnings:
            self.stdout.write(f'warning: {warning}')
        if policy.unprovided:
            self.stdout.write(f'warning: a test or real run fails until a provider of {", ".join(policy.unprovided)} '
                              f'is configured')

    def explain(self, o, entries):
        site, dataset = o['explain']
        cycle = None
        if o['policy']:
            filename, text, now = o['policy'], _read(o['policy']), _now(o['now'])
        else:
            cycle = selectors.latest_cycle()
            if cycle is None:
                raise CommandError('no cycle has run yet: give the policy with --policy FILE')
            filename, text = cycle.policy_filename or f'cycle {cycle.id}', cycle.policy_text
            now = _now(o['now']) if o['now'] else cycle.now
            rows = selectors.decisions_of(cycle, site, dataset) if selectors.cycle_has_decisions(cycle) else []
            self.stdout.write(f'cycle {cycle.id} ({"test" if cycle.test else "real"}, '
                              f'{cycle.started:%Y-%m-%d %H:%M:%S} UTC) decided:' if rows else
                              f'cycle {cycle.id} has no decision on {dataset} at {site}')
            for row in rows:
                blocks = 'all blocks' if row['blocks'] is None else ', '.join(row['blocks'])
                self.stdout.write(f'  {row["decision"]} {blocks} ({row["size"]} B) by line {row["line"]}: '
                                  f'{row["text"]}')
            self.stdout.write('evaluated again on the inventory as it is now:')
        params = {'policy': text, 'filename': filename, 'site': site, 'dataset': dataset, 'now': now,
                  'providers': entries}
        app_id, final, record = self.start('detox_explain', dict(params), dict(o, asynchronous=False))
        if final['state'] != 'done':
            raise CommandError(f'application {app_id} {final["state"]}: '
                               f'{final.get("message") or record.get("message")}')
        self.stdout.write(record['result']['text'])


def _read(path):
    try:
        with open(path, encoding='utf-8') as f:
            return f.read()
    except OSError as exc:
        raise CommandError(f'cannot read {path}: {exc.strerror}') from None


def _now(value):
    try:
        return parse_now(value)
    except ValueError as exc:
        raise CommandError(f'--now {value}: {exc}') from None


def _provider_entries(path):
    path = path or getattr(settings, 'DYNAMO_DETOX_PROVIDERS', '')
    if not path:
        return []
    try:
        with open(path, encoding='utf-8') as f:
            entries = json.load(f)
    except (OSError, ValueError) as exc:
        raise CommandError(f'cannot read the providers configuration {path}: {exc}') from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise CommandError(f'{path}: expected a JSON list of provider entries')
    return entries


def _occupancy(value):
    return 'no quota' if value > 1e300 else f'{100 * value:5.1f} %'


def summary_lines(s, elapsed):
    """The cycle's summary for a terminal."""
    kind = 'test run' if s['test'] else 'real run'
    out = [f'Detox cycle {s["cycle"]} ({kind}) of partition {s["partition"]}: {s["state"]}',
           f'sites triggered: {", ".join(s["triggered"]) or "none"} ({len(s["triggered"])} of {len(s["sites"])})']
    width = max([len(site['site']) for site in s['sites']] + [4])
    out.append(f'  {"site":{width}}  {"quota":>11}  {"occupancy before -> after":>25}  {"protected":>11}  '
               f'{"kept":>11}  {"deleted":>11}')
    for site in s['sites']:
        quota = 'unlimited' if site['quota'] < 0 else format_size(site['quota'])
        mark = '*' if site['triggered'] else ' '
        out.append(f'{mark} {site["site"]:{width}}  {quota:>11}  {_occupancy(site["occupancy_before"]):>11} -> '
                   f'{_occupancy(site["occupancy_after"]):>10}  {format_size(site["protected"]):>11}  '
                   f'{format_size(site["kept"]):>11}  {format_size(site["deleted"]):>11}'
                   + (f'  (skipped {format_size(site["skipped"])})' if site.get('skipped') else ''))
    if s['test']:
        out.append(f'would hand {s["planned_deletions"]} block replicas ({format_size(s["deleted_bytes"])}) to the '
                   f'null group and {s["planned_handovers"]} to new owners; nothing was changed')
        if s['stopped']:
            out.append(f'a real run would stop before its commit: {s["stop_reason"]}')
    elif s['stopped']:
        out.append(f'stopped before the commit: {s["stop_reason"]}')
    else:
        out.append(f'{s["deletions"]} block replicas ({format_size(s["deleted_bytes"])}) handed to the null group, '
                   f'a deletion request each; {s["handovers"]} handed over to new owners'
                   + (f' (change set {s["seq"]})' if s['seq'] else ''))
    if s['num_skipped']:
        out.append(f'{s["num_skipped"]} block replicas skipped (changed since the decision):')
        out += [f'  {site} {dataset}#{block}: {why}' for site, dataset, block, why in s['skipped']]
    for warning in s['warnings']:
        out.append(f'warning: {warning}')
    t = s['timings']
    out.append(f'{s["iterations"]} iterations, {s["replica_evaluations"]} replica evaluations, '
               f'{s["line_evaluations"]} policy-line evaluations ({s["ns_per_line_evaluation"]:.0f} ns each)')
    computed = t.get('image', 0) + t.get('iterations', 0) + t.get('plan', 0)
    out.append(f'time taken: {elapsed:.1f} s (cycle {computed:.1f} s, '
               f'commit {t.get("commit", 0):.1f} s); decisions kept in the history: {s["num_decisions"]} rows '
               f'(detox --explain SITE DATASET, /web/detox?cycle={s["cycle"]})')
    return out
