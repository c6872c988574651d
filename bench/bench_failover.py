#!/usr/bin/env python
"""Failover time (docs/benchmarks.md): a primary and a secondary on fresh MariaDB databases;
`kill -9` of the primary; the time until the secondary answers as the primary. Repeated --runs
times for each --timeout (failover_timeout, seconds).

    python bench/bench_failover.py --db-url mysql://root@127.0.0.1:3306/ [--runs 5] [--timeout 30 --timeout 5]

The target: at most failover_timeout + 5 s after the primary's last heartbeat (measured from the
kill, so the heartbeat interval, 2 s, is inside the number).
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from urllib.parse import urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverctl import ROOT, BenchServer  # noqa: E402


def fresh_database(base_url, name):
    import MySQLdb
    u = urlparse(base_url)
    conn = MySQLdb.connect(host=u.hostname, port=u.port or 3306, user=u.username or 'root', passwd=u.password or '')
    c = conn.cursor()
    c.execute(f'DROP DATABASE IF EXISTS `{name}`')
    c.execute(f'CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin')
    conn.close()
    url = base_url.rstrip('/') + '/' + name
    subprocess.run([sys.executable, str(ROOT / 'manage.py'), 'migrate', '-v0'], check=True, cwd=str(ROOT),
                   env=dict(os.environ, DYNAMO_DB_URL=url))
    return url


def role(server):
    try:
        status, body = server.get('/data/server/status', timeout=2)
    except OSError:
        return None
    return body['data']['role'] if status == 200 else None


def one_run(base_url, timeout, run):
    u = urlparse(base_url)
    a, b = fresh_database(base_url, 'dyn_bench_fo_a'), fresh_database(base_url, 'dyn_bench_fo_b')
    master = json.dumps({'host': u.hostname, 'port': u.port or 3306, 'user': u.username or 'root',
                         'password': u.password or '', 'db': 'dyn_bench_fo_a'})
    env = {'DYNAMO_FAILOVER_TIMEOUT': str(timeout), 'DYNAMO_VAR_DIR': f'/tmp/bench-fo-var-{run}'}
    primary = BenchServer(a, 8391, '/tmp/bench-fo-primary.log', env=env)
    secondary = BenchServer(b, 8392, '/tmp/bench-fo-secondary.log', env=dict(env, DYNAMO_MASTER_CONF=master))
    primary.start()
    try:
        secondary.start()
        deadline = time.monotonic() + 60
        while role(secondary) != 'secondary':
            assert time.monotonic() < deadline, 'the secondary did not come online'
            time.sleep(0.2)
        time.sleep(5)   # a few heartbeats of the primary
        primary.proc.send_signal(signal.SIGKILL)
        primary.proc.wait()
        killed = time.monotonic()
        while role(secondary) != 'primary':
            if time.monotonic() - killed > timeout + 60:
                raise RuntimeError('no takeover')
            time.sleep(0.1)
        return time.monotonic() - killed
    finally:
        secondary.stop()
        primary.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--db-url', required=True, help='a MariaDB server (databases dyn_bench_fo_* are made there)')
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--timeout', type=float, action='append')
    o = ap.parse_args()
    for timeout in o.timeout or [30, 5]:
        took = [one_run(o.db_url, timeout, i) for i in range(o.runs)]
        print(f'failover_timeout {timeout:g} s: takeover {min(took):.1f} / {statistics.median(took):.1f} / '
              f'{max(took):.1f} s (min / median / max of {o.runs}) after kill -9: '
              + ', '.join(f'{t:.1f}' for t in took), flush=True)


if __name__ == '__main__':
    main()
