#!/usr/bin/env python
"""Detox cycle benchmark on a generated database (bench/generate.py), read only.

    python bench/bench_detox.py --db-url mysql://root@127.0.0.1:3306/dynamo_bench_cms [--runs 2] [--profile]

Loads the RAM image with inventory.store.load() (the database is only read), then sets quotas on
the image alone: the Default partition of every other T2 site (by name) gets a quota putting it
at 95 % (above the 90 % watermark of the policy below), the rest at 75 %. Then it runs the pure
cycle (detox.cycle.run) on the loaded image: in this process (--runs times: time, iterations,
cost per line evaluation, identical decisions) and once in a forked child, as an application
runs, for the peak memory the cycle adds (VmHWM after clear_refs) and the private pages it
leaves (copy-on-write copies included). Results are printed; --json FILE appends one line.
"""
import argparse
import gc
import hashlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'bench'))
from serverctl import DETOX_POLICY as POLICY  # noqa: E402
from serverctl import GENERATOR_NOW as NOW  # noqa: E402


def status(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    return 0


def private_bytes():
    with open('/proc/self/smaps_rollup') as f:
        total = 0
        for line in f:
            if line.startswith(('Private_Dirty:', 'Private_Clean:')):
                total += int(line.split()[1]) * 1024
        return total


def reset_peak():
    """Make VmHWM start again from the current RSS (Linux >= 4.0); False if not allowed."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def set_quotas(inv):
    t2 = sorted((s for s in inv.sites.values() if s.name.startswith('T2_')), key=lambda s: s.name)
    high = []
    for i, site in enumerate(t2):
        sp = site.partition('Default')
        usage = sp.usage()
        target = 0.95 if i % 2 == 0 else 0.75
        sp.set_quota(max(1, int(usage / target)))
        if target > 0.9:
            high.append(site.name)
    return len(t2), high


def digest(plan):
    h = hashlib.sha256()
    for d in plan.decisions:
        h.update(repr((d.site, d.dataset, d.decision, d.blocks, d.size, d.line)).encode())
    for d in plan.deletions:
        h.update(repr(d).encode())
    for o in plan.handovers:
        h.update(repr(o).encode())
    return h.hexdigest()[:16]


def summary(plan, seconds):
    triggered = [s for s in plan.sites if s.triggered]
    return dict(
        cycle_s=round(seconds, 2), timings={k: round(v, 2) for k, v in plan.timings.items()},
        iterations=plan.iterations, replica_evaluations=plan.replica_evaluations,
        line_evaluations=plan.line_evaluations,
        ns_per_line_evaluation=round(plan.ns_per_line_evaluation),
        decisions=len(plan.decisions), deletions=len(plan.deletions), handovers=len(plan.handovers),
        deleted_tb=round(plan.deleted_bytes / 1e12, 2), used_tb=round(plan.used_bytes / 1e12, 2),
        target_sites=len(plan.sites), triggered=len(triggered),
        until_reached=sum(1 for s in triggered if s.until_reached),
        below_until=sum(1 for s in triggered if s.occupancy_after < 0.85),
        stopped=plan.stopped, warnings=plan.warnings, digest=digest(plan))


def run_cycle(inv, policy, profile=False):
    from detox import cycle
    gc.collect()
    start = time.perf_counter()
    cpu = time.process_time()
    if profile:
        import cProfile
        import pstats
        prof = cProfile.Profile()
        prof.enable()
    plan = cycle.run(inv, policy)   # (the default safety valve: 10 % of the partition)
    seconds = time.perf_counter() - start
    plan.timings['cpu'] = time.process_time() - cpu   # (wall time suffers when the cores are shared)
    if profile:
        prof.disable()
        pstats.Stats(prof).sort_stats('tottime').print_stats(25)
    return plan, seconds


def in_child(inv, policy):
    """The cycle in a forked child (as a Detox application runs): its memory on top of the image."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            gc.collect()
            rss0, private0 = status('VmRSS'), private_bytes()
            can_reset = reset_peak()
            plan, seconds = run_cycle(inv, policy)
            result = dict(child_cycle_s=round(seconds, 2),
                          child_peak_extra_mib=round((status('VmHWM') - rss0) / 2 ** 20) if can_reset else None,
                          child_private_mib=round((private_bytes() - private0) / 2 ** 20),
                          child_digest=digest(plan))
        except BaseException as e:   # report, never fall back into the parent's code
            result = dict(child_error=repr(e))
        os.write(write, json.dumps(result).encode())
        os._exit(0)
    os.close(write)
    data = b''
    while True:
        chunk = os.read(read, 65536)
        if not chunk:
            break
        data += chunk
    os.waitpid(pid, 0)
    return json.loads(data)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--db-url', default=os.environ.get('DYNAMO_DB_URL'), help='a generated database (read only)')
    ap.add_argument('--runs', type=int, default=2, help='cycles in this process (each on the same image)')
    ap.add_argument('--profile', action='store_true', help='cProfile the first cycle')
    ap.add_argument('--no-fork', action='store_true', help='skip the forked-child measurement')
    ap.add_argument('--json', help='append the results as one JSON line to this file')
    args = ap.parse_args(argv)
    if not args.db_url:
        ap.error('--db-url (or DYNAMO_DB_URL) is required')
    os.environ['DYNAMO_DB_URL'] = args.db_url
    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'dynamo_site.settings')
    os.environ.setdefault('DYNAMO_LOG_LEVEL', 'WARNING')
    import django
    django.setup()
    from detox import policyfile
    from inventory import store
    from policy import parse_now

    print('loading the image ...', flush=True)
    start = time.perf_counter()
    inv, _ = store.load()
    load_s = time.perf_counter() - start
    gc.collect()
    gc.freeze()    # (as the server does for its image: the cycle's collections skip it)
    n_brs = sum(len(r.block_replicas) for s in inv.sites.values() for r in s.dataset_replicas())
    n_t2, high = set_quotas(inv)
    in_image = sum(len(s.partition('Default').replicas) for s in inv.sites.values() if s.name.startswith('T2_'))
    print(f'  {len(inv.datasets)} datasets, {n_brs} block replicas in {load_s:.1f} s; {n_t2} T2 sites, '
          f'{len(high)} set above the 90 % watermark', flush=True)
    policy = policyfile.parse(POLICY, 'bench.txt', now=parse_now(NOW))
    result = dict(when=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), load_s=round(load_s, 1),
                  datasets=len(inv.datasets), block_replicas=n_brs, t2_sites=n_t2, high_sites=len(high),
                  image_replicas=in_image)
    print(f'  the cycle\'s image: {in_image} dataset replicas at the T2 sites', flush=True)
    digests = []
    for run in range(args.runs):
        rss0 = status('VmRSS')
        can_reset = reset_peak()
        plan, seconds = run_cycle(inv, policy, profile=args.profile and run == 0)
        peak = status('VmHWM') - rss0 if can_reset else None
        s = summary(plan, seconds)
        s['peak_extra_mib'] = None if peak is None else round(peak / 2 ** 20)
        digests.append(s['digest'])
        print(f'run {run + 1}: ' + json.dumps(s), flush=True)
        result.setdefault('runs', []).append(s)
        del plan
    result['identical_runs'] = len(set(digests)) == 1
    if not args.no_fork:
        child = in_child(inv, policy)
        print('forked child: ' + json.dumps(child), flush=True)
        result.update(child)
        result['identical_runs'] = result['identical_runs'] and child.get('child_digest') == digests[0]
    print(f'identical decisions in every run: {result["identical_runs"]}')
    if args.json:
        with open(args.json, 'a') as f:
            f.write(json.dumps(result) + '\n')


if __name__ == '__main__':
    main()
