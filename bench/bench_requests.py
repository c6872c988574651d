#!/usr/bin/env python
"""/data/request/pollcopy over 100,000 stored copy requests (docs/benchmarks.md, "Dealer and
requests"): latency percentiles of polls by request id, item, site, user and status, one client
at a time, on a real server.

    python bench/bench_requests.py --db-url mysql://root@127.0.0.1:3306/dynamo_bench_requests [--requests 100000]

The database is made once (--setup, or when it holds fewer requests): migrated, the demo inventory
injected, then the requests written in bulk (seeded: 20,000 datasets, 1-3 items and 1-5 of 60 sites
each, 1,000 users, 5 % new, 10 % activated, 70 % completed, 10 % rejected, 5 % cancelled, an
action per item and site of the activated and completed ones).
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverctl import ROOT, BenchServer, setup_django  # noqa: E402

STATUSES = [('new', 5), ('activated', 10), ('completed', 70), ('rejected', 10), ('cancelled', 5)]


def setup(o, env):
    r = subprocess.run([sys.executable, str(ROOT / 'manage.py'), 'migrate', '--skip-checks'], env=env, cwd=str(ROOT),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    setup_django(o.db_url, env['DYNAMO_APP_SOCKET'])
    from django.utils import timezone
    from inventory.models import Dataset
    from transfers.models import CopyAction, CopyRequest, CopyRequestItem, CopyRequestSite
    if not Dataset.objects.exists():
        r = subprocess.run([sys.executable, str(ROOT / 'manage.py'), 'dynamo_inject', 'inventory/fixtures/demo.json'],
                           env=env, cwd=str(ROOT), capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    if CopyRequest.objects.count() >= o.requests and not o.setup:
        return
    CopyRequest.objects.all().delete()
    rng = random.Random(1)
    datasets = [f'/Primary{i % 700}/Era{i // 700}-v{i % 3 + 1}/{("AOD", "MINIAOD", "RAW")[i % 3]}'
                for i in range(20000)]
    sites = [f'T2_{c}_{n}' for c in ('US', 'DE', 'IT', 'FR', 'UK', 'CH') for n in range(10)]
    statuses = [s for s, w in STATUSES for _ in range(w)]
    now = timezone.now()
    t0 = time.monotonic()
    batch = 5000
    for start in range(0, o.requests, batch):
        rows = []
        for i in range(start, min(o.requests, start + batch)):
            status = rng.choice(statuses)
            rows.append(CopyRequest(user=f'user{rng.randrange(1000)}', group='AnalysisOps',
                                    num_copies=rng.choice((0, 1, 1, 2)), status=status,
                                    reason='no target site among T2_XX_Y' if status == 'rejected' else '',
                                    site_patterns=['T2_*'], item_list=rng.sample(datasets, rng.choice((1, 1, 2, 3))),
                                    site_list=rng.sample(sites, rng.choice((1, 2, 3, 5))),
                                    first_request=now, last_request=now, updated=now))
        CopyRequest.objects.bulk_create(rows, batch_size=batch)
        if rows[0].id is None:        # (no RETURNING: read the ids back)
            rows = list(CopyRequest.objects.order_by('-id')[:len(rows)])
        items, sites_rows, actions = [], [], []
        for req in rows:
            items += [CopyRequestItem(request=req, name=n, dataset=n) for n in req.item_list]
            sites_rows += [CopyRequestSite(request=req, name=s) for s in req.site_list]
            if req.status in ('activated', 'completed'):
                done = 'completed' if req.status == 'completed' else rng.choice(('queued', 'completed'))
                actions += [CopyAction(request=req, item=n, site=s, status=done, updated=now)
                            for n in req.item_list for s in req.site_list[:max(1, req.num_copies)]]
        CopyRequestItem.objects.bulk_create(items, batch_size=batch)
        CopyRequestSite.objects.bulk_create(sites_rows, batch_size=batch)
        CopyAction.objects.bulk_create(actions, batch_size=batch)
    print(f'setup: {CopyRequest.objects.count()} requests in {time.monotonic() - t0:.0f} s', flush=True)


def get(url):
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as r:
        body = json.loads(r.read())
        assert r.status == 200 and body['result'] == 'OK', body
    return time.perf_counter() - t0, len(body['data'])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--db-url', required=True)
    ap.add_argument('--requests', type=int, default=100000)
    ap.add_argument('--polls', type=int, default=400, help='polls of each kind')
    ap.add_argument('--port', type=int, default=8196)
    ap.add_argument('--setup', action='store_true')
    o = ap.parse_args()
    env = dict(os.environ, DYNAMO_DB_URL=o.db_url, DYNAMO_APP_SOCKET=f'/tmp/bench-dynamo-{o.port}.sock',
               DYNAMO_SCHEDULE_TRACK_REQUESTS='off')
    setup(o, env)
    setup_django(o.db_url, env['DYNAMO_APP_SOCKET'])
    from transfers.models import CopyRequest, CopyRequestItem, CopyRequestSite
    ids = list(CopyRequest.objects.values_list('id', flat=True))
    items = list(CopyRequestItem.objects.values_list('dataset', flat=True).distinct()[:5000])
    sites = sorted(set(CopyRequestSite.objects.values_list('name', flat=True)[:5000]))
    rng = random.Random(2)
    kinds = {
        'request_id': lambda: {'request_id': rng.choice(ids)},
        'item': lambda: {'item': rng.choice(items)},
        'user': lambda: {'user': f'user{rng.randrange(1000)}'},
        'site+status (a page)': lambda: {'site': rng.choice(sites), 'status': 'activated'},
        'status=new (a page)': lambda: {'status': 'new'},
        'status=new, limit=1000': lambda: {'status': 'new', 'limit': 1000},
        'item pattern': lambda: {'item': rng.choice(items).rsplit('/', 1)[0] + '/*'},
    }
    server = BenchServer(o.db_url, o.port, log_path='/tmp/bench-requests-server.log',
                         env={'DYNAMO_SCHEDULE_TRACK_REQUESTS': 'off'})
    results = {}
    try:
        print(f'server online after {server.start():.1f} s; {len(ids)} requests stored', flush=True)
        for kind, params in kinds.items():
            get(f'{server.url}/data/request/pollcopy?' + urllib.parse.urlencode(params()))   # warm up
            times, rows = [], []
            for _ in range(o.polls):
                seconds, n = get(f'{server.url}/data/request/pollcopy?' + urllib.parse.urlencode(params()))
                times.append(seconds)
                rows.append(n)
            times.sort()
            results[kind] = {'p50_ms': round(1000 * statistics.median(times), 1),
                             'p99_ms': round(1000 * times[int(0.99 * len(times)) - 1], 1),
                             'max_ms': round(1000 * times[-1], 1), 'rows_mean': round(statistics.mean(rows), 1)}
            print(f'{kind:24} {json.dumps(results[kind])}', flush=True)
    finally:
        server.stop()
    print(f'load average {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
    main()
