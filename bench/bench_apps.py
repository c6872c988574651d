#!/usr/bin/env python
"""Application benchmarks on a running server (docs/benchmarks.md).

    python bench/bench_apps.py --db-url URL [--runs 50] [--children 10] [--changes 100000]

(a) latency   from submission (socket request sent) to the script's first line of output,
              over --runs read-only applications: p50 / p99 (targets 100 ms / 300 ms)
(b) COW       --children read-only applications scanning the whole inventory at once: private
              (copied) memory of each child from /proc/PID/smaps_rollup vs the server's RSS
              (target < 50 % of the image per child)
(c) write     a write application returning --changes block-replica updates: time from the
              script's last line to the application done (RAM + database), target 20 s; then a
              second run puts the old values back
"""
import argparse
import base64
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverctl import BenchServer, setup_django  # noqa: E402

SCAN = '''
import time, sys
from dynamo.core.executable import inventory
total = 0
for site in inventory.sites.values():
    for replica in site.dataset_replicas():
        for br in replica.block_replicas:
            total += br.size
for dataset in inventory.datasets.values():
    for block in dataset.blocks:
        total += block.size
print('scanned', total, flush=True)
time.sleep(float(sys.argv[1]))
'''

WRITE = '''
import sys, time
from dynamo.core.executable import inventory
from dynamo.dataformat import BlockReplica
n = int(sys.argv[1]); delta = int(sys.argv[2]); count = 0
for site in sorted(inventory.sites.values(), key=lambda s: s.name):
    for replica in site.dataset_replicas():
        for br in replica.block_replicas:
            if count >= n:
                break
            c = br.unlinked_clone()
            c.last_update = br.last_update + delta
            inventory.update(c)
            count += 1
print('changes', count, 'end', time.time(), flush=True)
'''


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def submit_first_line(client_mod, socket_path, script_text, args=''):
    c = client_mod.Client(socket_path)
    t0 = time.monotonic()
    reply = c.request({'cmd': 'submit', 'script': base64.b64encode(script_text.encode()).decode(),
                       'script_path': 'bench.py', 'args': args, 'title': 'bench', 'write': False, 'async': False})
    first = None
    while True:
        msg = c.reader.recv()
        if 'out' in msg and first is None:
            first = time.monotonic() - t0
        if 'final' in msg:
            return first, reply['id']


def app_process(supervisor):
    """The application process under its supervisor (its first child)."""
    try:
        with open(f'/proc/{supervisor}/task/{supervisor}/children') as f:
            children = f.read().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def private_bytes(pid):
    total = 0
    try:
        with open(f'/proc/{pid}/smaps_rollup') as f:
            for line in f:
                if line.startswith(('Private_Dirty:', 'Private_Clean:')):
                    total += int(line.split()[1]) * 1024
    except OSError:
        return None
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--db-url', required=True)
    ap.add_argument('--runs', type=int, default=50)
    ap.add_argument('--children', type=int, default=10)
    ap.add_argument('--changes', type=int, default=100000)
    ap.add_argument('--port', type=int, default=8190)
    ap.add_argument('--no-write', action='store_true', help='skip (c): leave the database as it is')
    o = ap.parse_args()
    server = BenchServer(o.db_url, o.port, env={'DYNAMO_MAX_READONLY_APPS': str(max(8, o.children))})
    print(f'starting server on {o.db_url} ...', flush=True)
    print(f'server online after {server.start():.1f} s, RSS {server.rss() / 1e9:.2f} GB', flush=True)
    setup_django(o.db_url, server.socket)
    from execution import client
    from execution.models import Application
    try:
        # (a) latency
        lat = []
        for _ in range(o.runs):
            first, _ = submit_first_line(client, server.socket, 'print("hello")\n')
            lat.append(first * 1000)
        print(f'(a) submission -> first output line over {o.runs} runs: p50 {percentile(lat, 50):.1f} ms, '
              f'p99 {percentile(lat, 99):.1f} ms, max {max(lat):.1f} ms', flush=True)

        # (b) copy-on-write
        image = server.rss()
        ids = []
        for _ in range(o.children):
            c = client.Client(server.socket)
            ids.append(c.request({'cmd': 'submit', 'script': base64.b64encode(SCAN.encode()).decode(),
                                  'script_path': 'scan.py', 'args': '40', 'title': 'scan', 'write': False,
                                  'async': True})['id'])
        deadline = time.time() + 300
        from execution.selectors import application_output
        while time.time() < deadline:
            # the recorded pid is the application's supervisor; the application is its child
            pids = [app_process(pid) for pid in
                    Application.objects.filter(id__in=ids, state='run').values_list('pid', flat=True)]
            scanned = sum('scanned' in application_output(Application.objects.get(id=app_id))[0] for app_id in ids)
            if scanned == len(ids):
                break
            time.sleep(1)
        privs = [p for p in (private_bytes(pid) for pid in pids if pid) if p is not None]
        mean = statistics.mean(privs) if privs else 0
        print(f'(b) {len(privs)} children scanning at once: private memory per child mean '
              f'{mean / 1e6:.0f} MB, max {max(privs) / 1e6:.0f} MB = {100 * mean / image:.0f} % '
              f'(max {100 * max(privs) / image:.0f} %) of the server image ({image / 1e6:.0f} MB RSS)', flush=True)
        for app_id in ids:
            client.kill(socket_path=server.socket, app_id=app_id)
        time.sleep(2)

        # (c) write application with many changes
        from execution.authorization import authorize
        for delta in () if o.no_write else (1, -1):
            with tempfile.NamedTemporaryFile('w', suffix='.py', delete=False) as f:
                f.write(WRITE)
            authorize(path=f.name, title='bench-write')
            c = client.Client(server.socket)
            t0 = time.monotonic()
            reply = c.request({'cmd': 'submit', 'script': base64.b64encode(WRITE.encode()).decode(),
                               'script_path': f.name, 'args': f'{o.changes} {delta}', 'title': 'bench-write',
                               'write': True, 'async': False})
            end_line = None
            while True:
                msg = c.reader.recv()
                if 'out' in msg and 'end' in msg['out']:
                    end_line = time.monotonic()
                if 'final' in msg:
                    done = time.monotonic()
                    break
            app = Application.objects.get(id=reply['id'])
            print(f'(c) write application with {app.num_changes} changes: script {end_line - t0:.1f} s, '
                  f'applied (RAM + database) {done - end_line:.1f} s after its last line; state {app.state}',
                  flush=True)
    finally:
        server.stop()


if __name__ == '__main__':
    main()
