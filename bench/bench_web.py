#!/usr/bin/env python
"""Web benchmarks on a running server (docs/benchmarks.md). Needs `wrk` (Debian package).

    python bench/bench_web.py --db-url URL [--duration 30] [--changes 10000]

(a) /data/inventory/datasets?dataset=<pattern matching about 100 datasets> under wrk (2 threads,
    32 connections) for --duration seconds, while a write application commits --changes
    block-replica updates (then a second one puts them back): requests/s and latency percentiles
    (targets: >= 500 requests/s, p99 < 100 ms)
(b) /data/inventory/blockreplicas for the dataset with the most blocks: time of one request
    (target < 1 s for 10,000 blocks)
"""
import argparse
import base64
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_apps import WRITE  # noqa: E402
from serverctl import BenchServer, setup_django  # noqa: E402


def pick_pattern(server, want=100):
    """A dataset-name prefix pattern matching about `want` datasets."""
    status, body = server.get('/data/inventory/datasets?dataset=/*', timeout=120)
    names = sorted(d['name'] for d in body['data'])
    best = None
    for prefix_len in range(2, 60):
        counts = {}
        for n in names:
            counts[n[:prefix_len]] = counts.get(n[:prefix_len], 0) + 1
        for prefix, count in counts.items():
            if best is None or abs(count - want) < abs(best[1] - want):
                best = (prefix, count)
        if best and abs(best[1] - want) <= want // 5:
            break
    return best[0] + '*', best[1]


def run_write(socket_path, changes, delta, title, done):
    from execution import client
    with tempfile.NamedTemporaryFile('w', suffix='.py', delete=False) as f:
        f.write(WRITE)
    from execution.authorization import authorize
    authorize(path=f.name, title=title)
    c = client.Client(socket_path)
    t0 = time.monotonic()
    c.request({'cmd': 'submit', 'script': base64.b64encode(WRITE.encode()).decode(), 'script_path': f.name,
               'args': f'{changes} {delta}', 'title': title, 'write': True, 'async': False})
    while 'final' not in c.reader.recv():
        pass
    done.append(time.monotonic() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--db-url', required=True)
    ap.add_argument('--duration', type=int, default=30)
    ap.add_argument('--changes', type=int, default=10000)
    ap.add_argument('--connections', type=int, default=32)
    ap.add_argument('--port', type=int, default=8192)
    ap.add_argument('--no-write', action='store_true', help='baseline: no write application')
    o = ap.parse_args()
    server = BenchServer(o.db_url, o.port)
    print(f'server online after {server.start():.1f} s', flush=True)
    setup_django(o.db_url, server.socket)
    try:
        pattern, count = pick_pattern(server)
        url = f'{server.url}/data/inventory/datasets?dataset={urllib.parse.quote(pattern)}'
        print(f'pattern {pattern!r} matches {count} datasets', flush=True)
        done = []
        writer = threading.Thread(target=lambda: (time.sleep(3), run_write(server.socket, o.changes, 1, 'bench-web', done),
                                                  run_write(server.socket, o.changes, -1, 'bench-web', done)))
        if not o.no_write:
            writer.start()
        wrk = subprocess.run(['wrk', '-t2', f'-c{o.connections}', f'-d{o.duration}s', '--latency', url],
                             capture_output=True, text=True)
        if not o.no_write:
            writer.join()
        print(wrk.stdout)
        rps = re.search(r'Requests/sec:\s+([\d.]+)', wrk.stdout)
        p99 = re.search(r'99%\s+([\d.]+)(\w+)', wrk.stdout)
        print(f'(a) {rps.group(1) if rps else "?"} requests/s, p99 {p99.group(1) + p99.group(2) if p99 else "?"}, '
              f'while write applications of {o.changes} changes ran ({", ".join(f"{t:.1f} s" for t in done)})')
        # (b) the dataset with the most blocks
        from inventory.models import Block
        from django.db.models import Count
        top = Block.objects.values('dataset__name').annotate(n=Count('id')).order_by('-n').first()
        t0 = time.monotonic()
        status, body = server.get('/data/inventory/blockreplicas?dataset=' + urllib.parse.quote(top['dataset__name']),
                                  timeout=60)
        elapsed = time.monotonic() - t0
        print(f'(b) /data/inventory/blockreplicas for a dataset of {top["n"]} blocks: {elapsed * 1000:.0f} ms '
              f'({len(body["data"])} blocks, status {status})')
    finally:
        server.stop()


if __name__ == '__main__':
    main()
