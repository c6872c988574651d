#!/usr/bin/env python
"""/data/inventory/blockreplicas for a dataset of N blocks (default 10,000) with 3 replicas each.

    python bench/bench_bigdataset.py --db-url URL [--blocks 10000]

Injects the dataset (and its replicas at the first three sites) through dynamo_inject, times the
request three times on a running server (the first answer is computed, the next ones cached),
then deletes the dataset again. Target: under 1 s.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverctl import ROOT, BenchServer, setup_django  # noqa: E402

NAME = '/BenchBig/Dataset-v1/AOD'


def inject(db_url, doc, delete=False):
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as f:
        json.dump(doc, f)
    args = [sys.executable, str(ROOT / 'manage.py'), 'dynamo_inject', f.name] + (['--delete'] if delete else [])
    out = subprocess.run(args, env=dict(os.environ, DYNAMO_DB_URL=db_url), capture_output=True, text=True)
    print(out.stdout.splitlines()[0] if out.stdout else out.stderr.strip().splitlines()[-1], flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--db-url', required=True)
    ap.add_argument('--blocks', type=int, default=10000)
    ap.add_argument('--port', type=int, default=8197)
    o = ap.parse_args()
    setup_django(o.db_url, '/tmp/unused.sock')
    from inventory.models import Site
    sites = list(Site.objects.order_by('name').values_list('name', flat=True)[:3])
    blocks = [{'name': f'{i:08d}-0000-4000-8000-000000000000',
               'files': [{'name': f'/store/benchbig/{i}.root', 'size': 2_000_000_000}]} for i in range(o.blocks)]
    inject(o.db_url, {'dataset': [{'name': NAME, 'status': 'valid', 'blocks': blocks}],
                      'datasetreplica': [{'dataset': NAME, 'site': s} for s in sites]})
    server = BenchServer(o.db_url, o.port, log_path='/tmp/bench-big-server.log')
    server.start()
    try:
        for i in range(3):
            t0 = time.monotonic()
            with urllib.request.urlopen(f'{server.url}/data/inventory/blockreplicas?dataset={urllib.parse.quote(NAME)}') as r:
                body = r.read()
            data = json.loads(body)['data']
            print(f'request {i + 1}: {(time.monotonic() - t0) * 1000:.0f} ms for {len(data)} blocks, '
                  f'{sum(len(b["replicas"]) for b in data)} replicas ({len(body) / 1e6:.1f} MB)', flush=True)
    finally:
        server.stop()
        inject(o.db_url, {'dataset': [{'name': NAME}]}, delete=True)


if __name__ == '__main__':
    main()
