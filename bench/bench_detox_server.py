#!/usr/bin/env python
"""Detox end to end on a running server (docs/benchmarks.md, "Detox"): `manage.py detox` against
runserver_dynamo on a copy of the cms preset's database.

    python bench/bench_detox_server.py [--source dynamo_bench_cms] [--db dynamo_bench_cms_detox] [--fresh]
                                       [--runs 2] [--real] [--json FILE]

1. The copy: `mysqldump SOURCE | mysql DB` (--fresh, or when DB does not exist); the source is only read.
2. A server on the copy (bench/serverctl.py); the quotas of the Default partition are set with
   `manage.py set_quota` so that every other T2 site (by name, 38 of 75) is at 95 % of its quota
   (above the 90 % high watermark of the policy) and the others at 75 %.
3. --runs test cycles (`manage.py detox --test-run`), then with --real one real cycle (commit
   included: the change set, the deletion requests, the history). Each is timed from the command's
   start to its exit; the phases come from the cycle's record. Meanwhile the private memory of the
   application (as DYNAMO_APP_USER, under the server) is sampled, and the server's peak RSS is
   read after resetting it (clear_refs), for the extra memory of the cycle; and a read of the
   image (/data/inventory/groups) every 0.2 s says how long web readers waited at worst.
"""
import argparse
import json
import os
import pwd
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverctl import DETOX_POLICY as POLICY  # noqa: E402
from serverctl import GENERATOR_NOW as NOW  # noqa: E402
from serverctl import ROOT, BenchServer  # noqa: E402


def mysql(*args, stdin=None):
    return subprocess.run(['mysql', '-uroot', '-h127.0.0.1', *args], stdin=stdin, check=True,
                          capture_output=True, text=True).stdout


def copy_database(source, target):
    start = time.monotonic()
    mysql('-e', f'DROP DATABASE IF EXISTS `{target}`; CREATE DATABASE `{target}` CHARACTER SET utf8mb4')
    dump = subprocess.Popen(['mysqldump', '-uroot', '-h127.0.0.1', '--single-transaction', '--quick', source],
                            stdout=subprocess.PIPE)
    mysql(target, stdin=dump.stdout)
    if dump.wait() != 0:
        raise RuntimeError('mysqldump failed')
    return time.monotonic() - start


def exists(db):
    return db in mysql('-N', '-e', 'SHOW DATABASES').split()


def manage(env, *args, timeout=1800):
    def run(*words):
        return subprocess.run([sys.executable, str(ROOT / 'manage.py'), *words], env=env, capture_output=True,
                              text=True, cwd=str(ROOT), timeout=timeout)
    start = time.monotonic()
    r = run(*args)
    if 'not up to date' in r.stderr and args[0] != 'migrate':
        # the checkout gained a migration meanwhile (other apps): apply it, then again
        run('migrate', '-v0')
        start = time.monotonic()
        r = run(*args)
    return r, time.monotonic() - start


def descendants(pid):
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    parent = int(f.read().rpartition(')')[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, ()):
            out.append(c)
            todo.append(c)
    return out


def private_bytes(pid):
    total = 0
    try:
        with open(f'/proc/{pid}/smaps_rollup') as f:
            for line in f:
                if line.startswith(('Private_Dirty:', 'Private_Clean:')):
                    total += int(line.split()[1]) * 1024
    except OSError:
        return 0
    return total


def status(pid, field):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    return 0


def uid_of(pid):
    try:
        return os.stat(f'/proc/{pid}').st_uid
    except OSError:
        return None


class MemorySampler(threading.Thread):
    """The peak private memory of the server's descendants running as the application user."""

    def __init__(self, server_pid, uid, interval=0.2):
        super().__init__(daemon=True)
        self.server_pid, self.uid, self.interval = server_pid, uid, interval
        self.peak = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            pids = [p for p in descendants(self.server_pid) if uid_of(p) == self.uid]
            if pids:
                self.peak = max(self.peak, sum(private_bytes(p) for p in pids))
            self.stop.wait(self.interval)


def set_quotas(server, env):
    """Every other T2 site by name at 95 % of its Default quota, the others at 75 %: set_quota."""
    status_, body = server.get('/data/inventory/quotas?partition=Default&site=T2_*', timeout=120)
    assert status_ == 200, body
    rows = sorted(body['data'], key=lambda r: r['site'])
    start = time.monotonic()
    over = 0
    for i, row in enumerate(rows):
        fraction = 0.95 if i % 2 == 0 else 0.75
        over += fraction > 0.9
        volume = int(row['usage'] / fraction)
        if row['quota'] == volume:
            continue
        r, _ = manage(env, 'set_quota', '--site', row['site'], '--partition', 'Default', '--volume', str(volume))
        if r.returncode != 0:
            raise RuntimeError(r.stdout + r.stderr)
    return len(rows), over, time.monotonic() - start


class Poller(threading.Thread):
    """The slowest answer of a read of the image (/data/inventory/groups) while the cycle runs."""

    def __init__(self, server, interval=0.2):
        super().__init__(daemon=True)
        self.server, self.interval = server, interval
        self.slowest = 0.
        self.count = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                self.server.get('/data/inventory/groups', timeout=60)
            except OSError:
                pass
            self.slowest = max(self.slowest, time.monotonic() - start)
            self.count += 1
            self.stop.wait(self.interval)


def cycle(server, env, policy_path, uid, test):
    with open(f'/proc/{server.proc.pid}/clear_refs', 'w') as f:
        f.write('5')                       # VmHWM starts again from the current RSS
    rss_before = status(server.proc.pid, 'VmRSS')
    sampler = MemorySampler(server.proc.pid, uid)
    sampler.start()
    poller = Poller(server)
    poller.start()
    args = ['detox', '--policy', str(policy_path), '--now', NOW, '--comment', 'bench']
    if test:
        args.append('--test-run')
    r, elapsed = manage(env, *args)
    sampler.stop.set()
    poller.stop.set()
    sampler.join()
    poller.join()
    if r.returncode not in (0, 3):
        raise RuntimeError(r.stdout + r.stderr)
    _, body = server.get('/data/detox/cycle?id=latest', timeout=120)
    c = body['data']
    t = c['timings']
    evaluate = t.get('evaluate', 0.)
    return {
        'test': test, 'cycle': c['id'], 'state': c['state'], 'seconds': round(elapsed, 2),
        'phases': {k: round(v, 2) for k, v in t.items()},
        'iterations': c['iterations'], 'replica_evaluations': c['replica_evaluations'],
        'line_evaluations': c['line_evaluations'],
        'ns_per_line_evaluation': round(evaluate * 1e9 / c['line_evaluations']) if c['line_evaluations'] else 0,
        'decisions': c['num_decisions'], 'deletions': c['num_deletions'], 'skipped': c['num_skipped'],
        'deleted_bytes': c['deleted_bytes'], 'used_bytes': c['used_bytes'],
        'triggered': c['num_triggered'], 'sites': c['num_sites'],
        'until_reached': sum(1 for s in c['sites'] if s['until_reached']),
        'app_private_peak_mib': round(sampler.peak / 2 ** 20),
        'server_peak_extra_mib': round((status(server.proc.pid, 'VmHWM') - rss_before) / 2 ** 20),
        'slowest_read_seconds': round(poller.slowest, 2), 'reads': poller.count,
        'stdout_tail': r.stdout.splitlines()[-3:],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--source', default='dynamo_bench_cms')
    parser.add_argument('--db', default='dynamo_bench_cms_detox')
    parser.add_argument('--fresh', action='store_true', help='copy the source again first')
    parser.add_argument('--runs', type=int, default=2, help='test cycles')
    parser.add_argument('--real', action='store_true', help='then one real cycle (changes the copy)')
    parser.add_argument('--port', type=int, default=8197)
    parser.add_argument('--json', help='append the results to this file (one JSON line)')
    args = parser.parse_args()
    results = {'started': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}
    if args.fresh or not exists(args.db):
        results['copy_seconds'] = round(copy_database(args.source, args.db), 1)
        print(f'copied {args.source} to {args.db} in {results["copy_seconds"]} s', flush=True)
    db_url = f'mysql://root@127.0.0.1:3306/{args.db}'
    work = Path(f'/tmp/bench-detox-{args.port}')
    work.mkdir(exist_ok=True)
    server = BenchServer(db_url, port=args.port, log_path=str(work / 'server.log'),
                         env={'DYNAMO_WORK_DIR': str(work / 'work')})
    env = dict(server.env)
    r, seconds = manage(env, 'migrate', '-v0')        # the copy gets the tables of newer apps (detox's)
    if r.returncode != 0:
        raise RuntimeError(r.stdout + r.stderr)
    uid = pwd.getpwnam(os.environ.get('DYNAMO_APP_USER', 'nobody')).pw_uid
    policy_path = work / 'detox.txt'
    policy_path.write_text(POLICY)
    try:
        results['server_start_seconds'] = round(server.start(timeout=900), 1)
        print(f'server online in {results["server_start_seconds"]} s, RSS {status(server.proc.pid, "VmRSS") >> 20} MiB',
              flush=True)
        results['server_rss_mib'] = status(server.proc.pid, 'VmRSS') >> 20
        sites, over, seconds = set_quotas(server, env)
        results['quotas'] = {'t2_sites': sites, 'above_watermark': over, 'seconds': round(seconds, 1)}
        print(f'quotas: {over} of {sites} T2 sites above 90 % ({seconds:.1f} s)', flush=True)
        results['cycles'] = []
        for _ in range(args.runs):
            result = cycle(server, env, policy_path, uid, test=True)
            results['cycles'].append(result)
            print(json.dumps(result), flush=True)
        if args.real:
            result = cycle(server, env, policy_path, uid, test=False)
            results['cycles'].append(result)
            print(json.dumps(result), flush=True)
    finally:
        server.stop()
    if args.json:
        with open(args.json, 'a') as f:
            f.write(json.dumps(results) + '\n')


if __name__ == '__main__':
    main()
