#!/usr/bin/env python
"""Dealer benchmark on the cms preset (docs/benchmarks.md, "Dealer and requests").

    python bench/bench_dealer.py --db-url mysql://root@127.0.0.1:3306/dynamo_bench_dealer [--runs 3]

The database is a copy of the cms one (`mysqldump dynamo_bench_cms | mysql dynamo_bench_dealer`): it is
migrated and prepared once (--setup, or when it has no benchmark requests): 1,000 new copy requests
(seeded: random datasets, 1-2 items, T2 sites by pattern, n = 1 or 2), a popularity file with a
weight for every dataset, an enforcer rule (every /*/*/MINIAOD* dataset has a copy at T2_US_*), two
T2 sites set to MORGUE, and a Detox test cycle for the balancer (the ten-line policy of
bench_detox.py). Then a real server (bench/serverctl.py) runs `manage.py dealer --test-run` with all
six plugins --runs times; the cycle's own timings (load, sites, propose per plugin, merge,
decide, postprocess) come from its record. --commit ends with a real cycle (it changes the copy).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverctl import DETOX_POLICY, ROOT, BenchServer, setup_django  # noqa: E402

WORK = Path('/tmp/bench-dealer')
MORGUE = ('T2_AT_Vienna', 'T2_BR_UERJ')
REASSIGN_FROM = 'e-gamma_ecal'


def policy():
    return {'partition': 'Default', 'group': 'AnalysisOps', 'target_sites': ['T2_*'], 'max_cycle_volume': 200,
            'plugins': {
                'requests': {'priority': 1},
                'popularity': {'priority': 2, 'config': {'path': str(WORK / 'popularity.jsonl'), 'threshold': 40,
                                                         'max_copies': 4}},
                'balancer': {'priority': 3, 'config': {'source': 'detox', 'target_reasons': {
                    'Protect replica.num_full_disk_copy_common_owner < 2': 1}}},
                'undertaker': {'priority': 1},
                'enforcer': {'priority': 2, 'config': {'path': str(WORK / 'enforcer.json')}},
                'reassign': {'priority': 5, 'config': {'from_groups': [REASSIGN_FROM]}}}}


def manage(*args, env):
    return subprocess.run([sys.executable, str(ROOT / 'manage.py'), *args], env=env, cwd=str(ROOT),
                          capture_output=True, text=True)


def setup(o, server_env):
    """Prepare the copy: requests, popularity, enforcer rule, MORGUE sites (then a Detox cycle)."""
    setup_django(o.db_url, server_env['DYNAMO_APP_SOCKET'])
    from django.db import connection
    from inventory import models as store
    from transfers import resolve, selectors, services
    from transfers.models import CopyRequest
    rng = random.Random(1)
    with connection.cursor() as c:
        c.execute(f'UPDATE dyn_sites SET status = 3 WHERE name IN {tuple(MORGUE)!r}')
    datasets = sorted(store.Dataset.objects.values_list('name', flat=True))
    WORK.mkdir(exist_ok=True)
    os.chmod(WORK, 0o755)
    with open(WORK / 'popularity.jsonl', 'w') as f:
        for name in datasets:
            f.write(json.dumps({'dataset': name, 'demand_rank': round(rng.lognormvariate(2.5, 1.2), 2),
                                'num_access': rng.randrange(1000)}) + '\n')
    (WORK / 'enforcer.json').write_text(json.dumps({'rules': {'miniaod-us': {
        'datasets': ['/*/*/MINIAOD*'], 'sites': ['T2_US_*'], 'num_copies': 1}}}))
    (WORK / 'dealer.json').write_text(json.dumps(policy(), indent=1))
    (WORK / 'detox.txt').write_text(DETOX_POLICY)
    for name in os.listdir(WORK):
        os.chmod(WORK / name, 0o644)
    CopyRequest.objects.all().delete()
    catalog = selectors.StoreCatalog()
    sites = catalog.site_names()
    t2 = [s for s in sites if s.startswith('T2_')]
    t0 = time.monotonic()
    while CopyRequest.objects.count() < o.requests:     # (the dedup rule merges a few)
        items = resolve.resolve_items(catalog, rng.sample(datasets, rng.choice((1, 1, 2))))
        patterns = rng.choice((['T2_*'], ['T2_US_*'], ['T2_DE_*', 'T2_IT_*'], rng.sample(t2, 3)))
        expanded, patterns = resolve.expand_sites(catalog, patterns)
        services.copy_request_create(user=f'user{rng.randrange(50)}', items=items, sites=expanded,
                                     site_patterns=patterns, group='AnalysisOps', num_copies=rng.choice((1, 1, 2)))
    print(f'setup: {CopyRequest.objects.count()} copy requests in {time.monotonic() - t0:.1f} s, popularity for '
          f'{len(datasets)} datasets, MORGUE {", ".join(MORGUE)}', flush=True)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--db-url', required=True)
    ap.add_argument('--requests', type=int, default=1000)
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--port', type=int, default=8195)
    ap.add_argument('--setup', action='store_true', help='prepare the database again')
    ap.add_argument('--commit', action='store_true', help='end with a real (committed) cycle')
    ap.add_argument('--json', help='append the results to this file')
    o = ap.parse_args()
    socket_path = f'/tmp/bench-dynamo-{o.port}.sock'
    env = dict(os.environ, DYNAMO_DB_URL=o.db_url, DYNAMO_APP_SOCKET=socket_path, DYNAMO_SCHEDULE_DEALER='off',
               DYNAMO_SCHEDULE_DETOX='off', DYNAMO_SCHEDULE_TRACK_REQUESTS='off', DYNAMO_LOG_LEVEL='WARNING')
    r = manage('migrate', '--skip-checks', env=env)
    assert r.returncode == 0, r.stderr
    fresh = o.setup or not (WORK / 'dealer.json').exists()
    if fresh:
        setup(o, env)
    server = BenchServer(o.db_url, o.port, log_path='/tmp/bench-dealer-server.log',
                         env={k: env[k] for k in ('DYNAMO_SCHEDULE_DEALER', 'DYNAMO_SCHEDULE_DETOX',
                                                  'DYNAMO_SCHEDULE_TRACK_REQUESTS')})
    results = []
    try:
        print(f'server online after {server.start(timeout=900):.1f} s', flush=True)
        if fresh:
            t0 = time.monotonic()
            r = manage('detox', '--policy', str(WORK / 'detox.txt'), '--test-run', '--now', '2025-01-01',
                       '--server', f'127.0.0.1:{o.port}', env=env)
            assert r.returncode == 0, r.stdout + r.stderr
            print(f'detox test cycle (for the balancer) in {time.monotonic() - t0:.1f} s', flush=True)
        for run in range(o.runs + (1 if o.commit else 0)):
            real = o.commit and run == o.runs
            t0 = time.monotonic()
            args = ['dealer', '--policy', str(WORK / 'dealer.json'), '--server', f'127.0.0.1:{o.port}']
            r = manage(*args, *([] if real else ['--test-run']), env=env)
            wall = time.monotonic() - t0
            assert r.returncode == 0, r.stdout + r.stderr
            status, body = server.get('/data/dealer/cycle?cycle=latest')
            c = body['data']
            t = c['timings']
            computed = sum(v for k, v in t.items())
            result = {'run': run, 'real': real, 'cycle': c['id'], 'proposals': c['num_proposals'],
                      'accepted': c['num_accepted'], 'volume_tb': round(c['volume'] / 1e12, 1),
                      'compute_s': round(computed, 2), 'decide_s': round(t['decide'], 3),
                      'proposals_per_s': round(c['num_proposals'] / t['decide']) if t['decide'] else None,
                      'command_wall_s': round(wall, 1), 'timings': t,
                      'plugins': {n: [p['proposals'], p['accepted']] for n, p in c['plugins'].items()},
                      'rejections': c['rejections'], 'load_average': os.getloadavg()[0]}
            results.append(result)
            print(json.dumps({k: v for k, v in result.items() if k != 'timings'}), flush=True)
            print('   ', ', '.join(f'{k} {v:.2f}' for k, v in sorted(t.items())), flush=True)
    finally:
        server.stop()
    if o.json:
        with open(o.json, 'a') as f:
            f.write(json.dumps(results) + '\n')


if __name__ == '__main__':
    main()
