#!/usr/bin/env python
"""Cluster benchmarks: a primary on a generated database and a secondary joining it (docs/benchmarks.md).

    python bench/bench_cluster.py --db-url mysql://root@127.0.0.1:3306/dynamo_bench_cms [--changes 100000] [--sets 200]

(a) join         a secondary with an empty database of its own: from its start to `online`
                 (copy of the primary's store under one snapshot, load, replay); target 2 minutes
(b) propagation  --sets one-object change sets (web injections on the primary, one at a time):
                 from the primary's commit to the secondary's commit of the same change set,
                 both read from the `applied_at` of the two change-set logs; p50 / p99 (200 ms / 1 s)
(c) big set      a write application of --changes block-replica updates on the primary: its
                 apply time on the primary against the time from the primary's commit to the
                 secondary's (target: under 2x); a second run puts the values back
"""
import argparse
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from urllib.parse import urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverctl import ROOT, BenchServer  # noqa: E402
from bench_apps import WRITE  # noqa: E402


def mysql(url):
    import MySQLdb
    u = urlparse(url)
    kwargs = {'db': u.path.lstrip('/')} if u.path.lstrip('/') else {}
    return MySQLdb.connect(host=u.hostname, port=u.port or 3306, user=u.username or 'root',
                           passwd=u.password or '', autocommit=True, **kwargs)


def log_times(url, first_seq):
    conn = mysql(url)
    try:
        c = conn.cursor()
        c.execute('SELECT seq, applied_at FROM dyn_change_sets WHERE seq >= %s', (first_seq,))
        return dict(c.fetchall())
    finally:
        conn.close()


def status(server):
    with urllib.request.urlopen(server.url + '/data/server/status', timeout=10) as r:
        return json.loads(r.read())['data']


def wait_seq(server, seq, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if status(server)['seq'] >= seq:
            return
        time.sleep(0.05)
    raise RuntimeError(f'{server.url} did not reach change set {seq}')


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def applied_seconds(log_path, seq):
    pattern = re.compile(rf'applied change set {seq} from .*?: (\d+) changes in ([0-9.]+) s')
    with open(log_path) as f:
        for line in f:
            m = pattern.search(line)
            if m:
                return int(m.group(1)), float(m.group(2))
    return None, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--db-url', required=True, help="the primary's (populated) database")
    ap.add_argument('--secondary-db', default='dyn_bench_secondary', help='created (dropped first) for the secondary')
    ap.add_argument('--sets', type=int, default=200)
    ap.add_argument('--changes', type=int, default=100000)
    o = ap.parse_args()
    u = urlparse(o.db_url)
    secondary_url = o.db_url.rsplit('/', 1)[0] + '/' + o.secondary_db
    conn = mysql(o.db_url.rsplit('/', 1)[0] + '/')
    conn.cursor().execute(f'DROP DATABASE IF EXISTS `{o.secondary_db}`')
    conn.cursor().execute(f'CREATE DATABASE `{o.secondary_db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin')
    conn.close()
    subprocess.run([sys.executable, str(ROOT / 'manage.py'), 'migrate', '-v0'], check=True, cwd=str(ROOT),
                   env=dict(os.environ, DYNAMO_DB_URL=secondary_url))
    subprocess.run([sys.executable, str(ROOT / 'manage.py'), 'user_auth', '--user', 'bench', '--dn', '/CN=bench',
                    '--role', 'admin', '--target', 'inventory'], check=True, cwd=str(ROOT),
                   env=dict(os.environ, DYNAMO_DB_URL=o.db_url), capture_output=True)
    master = json.dumps({'host': u.hostname, 'port': u.port or 3306, 'user': u.username or 'root',
                         'password': u.password or '', 'db': u.path.lstrip('/')})
    primary = BenchServer(o.db_url, 8291, '/tmp/bench-primary.log', env={'DYNAMO_WEB_DN_HEADER': 'X-DN'})
    secondary = BenchServer(secondary_url, 8292, '/tmp/bench-secondary.log',
                            env={'DYNAMO_MASTER_CONF': master, 'DYNAMO_WEB_DN_HEADER': 'X-DN'})
    print(f'primary online after {primary.start():.1f} s', flush=True)
    try:
        # (a) join
        start = time.monotonic()
        secondary.start(timeout=900)
        while status(secondary)['state'] != 'online':
            time.sleep(0.1)
        print(f'(a) join: secondary online after {time.monotonic() - start:.1f} s '
              f'(seq {status(secondary)["seq"]}, digest equal: {status(secondary)["digest"] == status(primary)["digest"]})',
              flush=True)

        # (b) propagation of one-object change sets
        first = status(primary)['seq'] + 1
        for i in range(o.sets):
            body = json.dumps({'dataset': [{'name': f'/Bench/Propagation-{int(time.time())}-{i}/RAW'}]}).encode()
            req = urllib.request.Request(primary.url + '/data/inventory/inject', data=body, method='POST',
                                         headers={'Content-Type': 'application/json', 'X-DN': '/CN=bench'})
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.status == 200
            time.sleep(0.02)
        last = first + o.sets - 1
        wait_seq(secondary, last)
        p_times, s_times = log_times(o.db_url, first), log_times(secondary_url, first)
        lags = [(s_times[seq] - p_times[seq]).total_seconds() * 1000 for seq in range(first, last + 1)]
        print(f'(b) propagation of {o.sets} one-object change sets: p50 {percentile(lags, 50):.0f} ms, '
              f'p99 {percentile(lags, 99):.0f} ms, max {max(lags):.0f} ms, mean {statistics.mean(lags):.0f} ms',
              flush=True)

        # (c) a big change set
        sys.path.insert(0, str(ROOT))
        os.environ['DJANGO_SETTINGS_MODULE'] = 'dynamo_site.settings'
        os.environ['DYNAMO_DB_URL'] = o.db_url
        import django
        django.setup()
        from execution import client
        from execution.authorization import authorize
        for delta in (1, -1):
            with tempfile.NamedTemporaryFile('w', suffix='.py', delete=False) as f:
                f.write(WRITE)
            authorize(path=f.name, title='bench-write')
            c = client.Client(primary.socket)
            reply = c.request({'cmd': 'submit', 'script': base64.b64encode(WRITE.encode()).decode(),
                               'script_path': f.name, 'args': f'{o.changes} {delta}', 'title': 'bench-write',
                               'write': True, 'async': False})
            while 'final' not in c.reader.recv():
                pass
            seq = status(primary)['seq']
            wait_seq(secondary, seq, timeout=900)
            num, elapsed = applied_seconds(primary.log_path, seq)
            p_at, s_at = log_times(o.db_url, seq)[seq], log_times(secondary_url, seq)[seq]
            behind = (s_at - p_at).total_seconds()
            print(f'(c) application {reply["id"]}: {num} changes; primary applied them in {elapsed:.1f} s; '
                  f'the secondary committed them {behind:.1f} s after the primary ({behind / elapsed:.2f}x)',
                  flush=True)
        print(f'final digests equal: {status(secondary)["digest"] == status(primary)["digest"]}')
    finally:
        secondary.stop()
        primary.stop()


if __name__ == '__main__':
    main()
