#!/usr/bin/env python
"""A large injection with the server running (docs/benchmarks.md, "Large injections").

    python bench/generate_injection.py --files 1000000 --out /tmp/campaign.json
    python bench/bench_inject.py --db-url mysql://root@127.0.0.1:3306/dynamo_bench_inject /tmp/campaign.json

Starts a server on the database (migrated first), runs `manage.py dynamo_inject FILE` against it
and reports: the wall time of the command and of the server's change set, the peak RSS of the
command and of the server (VmHWM), and the slowest answers of /metrics and /data/server/status
polled every 0.5 s meanwhile.
"""
import argparse
import os
import re
import resource
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverctl import ROOT, BenchServer  # noqa: E402


def hwm(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) * 1024
    return 0


def poll(url, path, stop, worst):
    while not stop.is_set():
        t = time.monotonic()
        try:
            with urllib.request.urlopen(url + path, timeout=60) as r:
                r.read()
            worst[path] = max(worst.get(path, 0), time.monotonic() - t)
        except OSError as exc:
            worst[path + ' errors'] = worst.get(path + ' errors', 0) + 1
            worst[path + ' last error'] = str(exc)
        stop.wait(0.5)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--db-url', required=True)
    ap.add_argument('--port', type=int, default=8191)
    ap.add_argument('--timeout', type=float, default=7200)
    ap.add_argument('document')
    args = ap.parse_args()
    env = dict(os.environ, DYNAMO_DB_URL=args.db_url)
    subprocess.run([sys.executable, str(ROOT / 'manage.py'), 'migrate', '-v0'], env=env, check=True, cwd=str(ROOT))
    server = BenchServer(args.db_url, port=args.port, log_path='/tmp/bench-inject-server.log')
    print(f'server online in {server.start():.1f} s; RSS {server.rss() / 2 ** 20:.0f} MiB', flush=True)
    stop, worst = threading.Event(), {}
    pollers = [threading.Thread(target=poll, args=(server.url, p, stop, worst), daemon=True)
               for p in ('/metrics', '/data/server/status')]
    for t in pollers:
        t.start()
    try:
        size = os.path.getsize(args.document)
        start = time.monotonic()
        r = subprocess.run([sys.executable, str(ROOT / 'manage.py'), 'dynamo_inject', args.document,
                            '--timeout', str(args.timeout)], env=env, cwd=str(ROOT), capture_output=True, text=True)
        elapsed = time.monotonic() - start
        stop.set()
        command_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        print(r.stdout.splitlines()[0] if r.stdout else '', flush=True)
        if r.returncode:
            print(r.stderr[-3000:])
            raise SystemExit(f'dynamo_inject exited with {r.returncode}')
        log = open('/tmp/bench-inject-server.log').read()
        applied = re.findall(r'applied change set \d+ from inject:.*', log)
        print(f'document: {size / 1e9:.2f} GB ({size / 2 ** 30:.2f} GiB)')
        print(f'dynamo_inject: {elapsed:.0f} s wall, peak RSS {command_rss / 2 ** 20:.0f} MiB')
        print(f'server: peak RSS {hwm(server.proc.pid) / 2 ** 20:.0f} MiB; {applied[-1] if applied else "?"}')
        for key, value in sorted(worst.items()):
            print(f'{key}: {value:.2f} s' if isinstance(value, float) else f'{key}: {value}')
    finally:
        stop.set()
        server.stop()


if __name__ == '__main__':
    main()
