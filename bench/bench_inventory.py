#!/usr/bin/env python
"""Inventory benchmarks on a generated database (see bench/generate.py and docs/benchmarks.md).

    python bench/bench_inventory.py --db-url URL [--preset NAME] [--json] [--profile WHAT]

(a) cold load     store.load() from the database to a ready RAM image
(b) RAM           RSS growth over the load (after gc.collect()) / number of inventory objects
(c) full pass     usage of every site partition (SitePartition.usage) + every site's dataset
                  replicas sorted by (last update, size)
(d) change set    100k block-replica updates (group + last_update) through
                  services.apply_changeset(operations=...), RAM and database; then the same number
                  of updates putting the old values back (so the database content is unchanged)

--json appends one JSON line per run to bench/results/results.jsonl. --profile load|pass|apply
writes a cProfile report to bench/results/profile-<what>-<preset>.txt. --memory-breakdown walks the
image and attributes sys.getsizeof() of every object it holds to the inventory class that owns it.
"""
import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / 'bench' / 'results'
TARGETS = {'bytes_per_object': 200, 'full_pass_s': 2.0, 'apply_100k_s': 20.0}


def rss_bytes(field='VmRSS'):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    return 0


def setup_django(db_url):
    os.environ['DYNAMO_DB_URL'] = db_url
    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'dynamo_site.settings')
    os.environ.setdefault('DYNAMO_LOG_LEVEL', 'WARNING')
    sys.path.insert(0, str(ROOT))
    import django
    django.setup()


class Profiler:
    """cProfile around one phase when asked for, else nothing."""

    def __init__(self, wanted, what, label):
        self.on = wanted == what
        self.what = what
        self.label = label
        self.prof = cProfile.Profile() if self.on else None

    def __enter__(self):
        if self.on:
            self.prof.enable()
        return self

    def __exit__(self, *exc):
        if not self.on:
            return
        self.prof.disable()
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = io.StringIO()
        stats = pstats.Stats(self.prof, stream=out)
        out.write(f'==== {self.what} ({self.label}) by total time\n')
        stats.sort_stats('tottime').print_stats(35)
        out.write(f'==== {self.what} ({self.label}) by cumulative time\n')
        stats.sort_stats('cumulative').print_stats(35)
        path = RESULTS / f'profile-{self.what}-{self.label}.txt'
        path.write_text(out.getvalue())
        print(f'  profile written to {path.relative_to(ROOT)}')


# ================================================================================ (a) + (b)
def count_objects(inv):
    counts = dict(partitions=len(inv.partitions), sites=len(inv.sites), groups=len(inv.groups),
                  site_partitions=0, datasets=len(inv.datasets), blocks=0, dataset_replicas=0,
                  block_replicas=0, incomplete_block_replicas=0)
    for site in inv.sites.values():
        counts['site_partitions'] += len(site.partitions)
        for dr in site.dataset_replicas():
            counts['dataset_replicas'] += 1
            counts['block_replicas'] += len(dr.block_replicas)
            counts['incomplete_block_replicas'] += sum(1 for br in dr.block_replicas if br.file_ids is not None)
    for d in inv.datasets.values():
        counts['blocks'] += len(d.blocks)
    counts['total'] = sum(v for k, v in counts.items() if k != 'incomplete_block_replicas')
    return counts


def bench_load(args):
    from django.db import connection
    from inventory import store
    connection.ensure_connection()
    import inventory.objects  # noqa: F401  (imported before the baseline)
    gc.collect()
    rss0 = rss_bytes()
    steps = []
    print('(a) cold load ...', flush=True)
    with Profiler(args.profile, 'load', args.preset):
        start = time.perf_counter()
        if args.gc_off_during_load:        # experiment: what the load costs without the cyclic GC
            gc.disable()
        inv, seq = store.load(progress=lambda what, count, t: steps.append((what, count, round(t, 2))))
        if args.gc_off_during_load:
            gc.enable()
            gc.freeze()
        elapsed = time.perf_counter() - start
    inv.seq = seq
    gc.collect()
    rss1 = rss_bytes()
    counts = count_objects(inv)
    result = dict(load_s=round(elapsed, 2), load_steps=steps, seq=seq, counts=counts,
                  rss_before=rss0, rss_after=rss1, rss_peak=rss_bytes('VmHWM'),
                  bytes_per_object=round((rss1 - rss0) / counts['total'], 1))
    return inv, result


# ================================================================================ memory breakdown
SHARED_SLOTS = {'last_update', '_last_update', 'software_version', 'status', 'data_type', 'storage_type',
                'olevel', 'is_open', 'is_custodial', 'growing'}


def memory_breakdown(inv):
    """sys.getsizeof() of every object reachable from the image, attributed to its owner class.

    Walks every inventory object and the values of its __slots__ (links to other inventory objects
    excepted). Each Python object is counted once; interned timestamps, enumeration members and
    the like are put under 'shared'. Sizes are rounded up to the 16-byte blocks of pymalloc.
    """
    from inventory.objects import (Block, BlockReplica, Dataset, DatasetReplica, Group, Partition, Site,
                                   SitePartition)
    inv_types = (Block, BlockReplica, Dataset, DatasetReplica, Group, Partition, Site, SitePartition)
    slots = {cls: [n for k in cls.__mro__ for n in getattr(k, '__slots__', ())] for cls in inv_types}
    seen = set()
    acc = {}
    count = {}

    def rounded(n):
        return (n + 15) // 16 * 16 if n <= 512 else n + 16

    def add(owner, obj, what):
        if obj is None or obj is True or obj is False or isinstance(obj, inv_types):
            return
        if type(obj) is int and -5 <= obj <= 256:
            return
        key = id(obj)
        if key in seen:
            return
        seen.add(key)
        row = acc.setdefault(owner, {})
        row[what] = row.get(what, 0) + rounded(sys.getsizeof(obj))
        if isinstance(obj, (list, tuple, set, frozenset)):
            for item in obj:
                add(owner, item, what + ' items')
        elif isinstance(obj, dict):
            for k, v in obj.items():
                add(owner, k, what + ' keys')
                add(owner, v, what + ' values')

    def visit(obj):
        cls = type(obj)
        owner = cls.__name__
        count[owner] = count.get(owner, 0) + 1
        seen.add(id(obj))
        row = acc.setdefault(owner, {})
        row['object'] = row.get('object', 0) + rounded(sys.getsizeof(obj))
        for name in slots[cls]:
            value = getattr(obj, name, None)
            add('shared' if name in SHARED_SLOTS else owner, value, name)

    for d in inv.datasets.values():
        visit(d)
        for b in d.blocks:
            visit(b)
    for site in inv.sites.values():
        visit(site)
        for sp in site.partitions.values():
            visit(sp)
        for dr in site.dataset_replicas():
            visit(dr)
            for br in dr.block_replicas:
                visit(br)
    for g in inv.groups.values():
        visit(g)
    for p in inv.partitions.values():
        visit(p)
    for name in ('datasets', 'sites', 'groups', 'partitions'):
        add('Inventory', getattr(inv, name), name + ' dict')
    report = {}
    for owner, parts in sorted(acc.items(), key=lambda kv: -sum(kv[1].values())):
        total = sum(parts.values())
        n = count.get(owner)
        report[owner] = dict(total_mb=round(total / 1e6, 1), count=n,
                             per_object=round(total / n, 1) if n else None,
                             parts={k: (round(v / n, 1) if n else round(v / 1e6, 2))
                                    for k, v in sorted(parts.items(), key=lambda kv: -kv[1])})
    report['_all_mb'] = round(sum(sum(p.values()) for p in acc.values()) / 1e6, 1)
    return report


# ================================================================================ (c)
def full_pass(inv):
    """Usage of every site partition, then each site's dataset replicas sorted by (last update, size)."""
    usage = {}
    order = {}
    t_usage = t_sort = 0.0
    for site in inv.sites.values():
        t0 = time.perf_counter()
        for partition, sp in site.partitions.items():
            usage[(site.name, partition.name)] = sp.usage()
        t1 = time.perf_counter()
        replicas = list(site.dataset_replicas())
        replicas.sort(key=lambda dr: (dr.last_block_created(), dr.size()))
        order[site.name] = replicas
        t_sort += time.perf_counter() - t1
        t_usage += t1 - t0
    return usage, order, t_usage, t_sort


def bench_pass(inv, args):
    print('(c) full pass ...', flush=True)
    times = []
    parts = []
    with Profiler(args.profile, 'pass', args.preset):
        for _ in range(args.repeat):
            gc.collect()
            start = time.perf_counter()
            usage, order, t_usage, t_sort = full_pass(inv)
            times.append(time.perf_counter() - start)
            parts.append((t_usage, t_sort))
    best = min(range(len(times)), key=times.__getitem__)
    return usage, dict(full_pass_s=round(statistics.median(times), 3), full_pass_min_s=round(times[best], 3),
                       full_pass_all_s=[round(t, 3) for t in times],
                       full_pass_usage_s=round(parts[best][0], 3), full_pass_sort_s=round(parts[best][1], 3),
                       sorted_dataset_replicas=sum(len(v) for v in order.values()))


def verify_usage(usage):
    """Cross-check the Default-partition usage of the RAM image against SQL on the tables."""
    from django.db import connection
    sql = ('SELECT s.name, SUM(CASE WHEN br.is_complete THEN b.size ELSE br.size END) '
           'FROM dyn_block_replicas br JOIN dyn_blocks b ON b.id = br.block_id '
           'JOIN dyn_sites s ON s.id = br.site_id WHERE br.group_id IS NOT NULL GROUP BY s.name')
    with connection.cursor() as c:
        c.execute(sql)
        expected = {name: int(total or 0) for name, total in c.fetchall()}
    got = {site: total for (site, part), total in usage.items() if part == 'Default' and total}
    bad = {k: (got.get(k), expected.get(k)) for k in set(got) | set(expected) if got.get(k) != expected.get(k)}
    return not bad, bad


# ================================================================================ (d)
def bench_apply(inv, args):
    from inventory import services, store
    from inventory.objects import to_dict
    print(f'(d) change set of {args.changes} block-replica updates ...', flush=True)
    rng = random.Random(args.seed)
    all_brs = [br for site in inv.sites.values() for dr in site.dataset_replicas() for br in dr.block_replicas]
    chosen = rng.sample(all_brs, min(args.changes, len(all_brs)))
    del all_brs
    group_names = [g for g in inv.groups if g is not None]
    stamp = int(time.time())

    t0 = time.perf_counter()
    forward, backward = [], []
    for br in chosen:
        old = to_dict(br)
        new = dict(old)
        if args.change in ('group', 'both'):
            current = old['group']
            if current is not None and rng.random() < 0.15:
                new['group'] = None
            else:
                new['group'] = rng.choice([g for g in group_names if g != current] or group_names)
        if args.change in ('last_update', 'both') or new == old:
            new['last_update'] = stamp if old['last_update'] != stamp else stamp + 1
        forward.append(('u', new))
        backward.append(('u', old))
    build_s = time.perf_counter() - t0

    timings = {}
    stack = []

    def timed(name, fn):
        """Wrap fn to add its exclusive time (nested timed calls subtracted) to timings[name]."""
        def wrapper(*a, **kw):
            stack.append([0.0])
            start = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent = time.perf_counter() - start
                children = stack.pop()[0]
                timings[name] = timings.get(name, 0.0) + spent - children
                if stack:
                    stack[-1][0] += spent
        return wrapper

    # time the phases: decoding, RAM, store.persist and the change-set log (whatever shape it has)
    patches = [(store, 'persist', 'persist')]
    for fn, label in (('decode_operations', 'decode'), ('apply_operations', 'ram')):
        if hasattr(services, fn):
            patches.append((services, fn, label))
    if hasattr(services, '_record'):
        patches.append((services, '_record', 'log'))
    writer_cls = getattr(services, '_ChangeSetWriter', None)
    if writer_cls is not None:
        patches += [(writer_cls, name, 'log') for name in ('__init__', '_flush', 'close') if hasattr(writer_cls, name)]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, label in patches:
        setattr(owner, name, timed(label, getattr(owner, name)))
    gc_time = {'start': 0.0, 'total': 0.0, 'full': 0}

    def gc_callback(phase, info):       # time spent in the cyclic garbage collector
        if phase == 'start':
            gc_time['start'] = time.perf_counter()
        else:
            gc_time['total'] += time.perf_counter() - gc_time['start']
            gc_time['full'] += info.get('generation') == 2

    gc.callbacks.append(gc_callback)
    results = []
    try:
        runs = [('apply', forward)] + ([] if args.no_revert else [('revert', backward)])
        for name, ops in runs:
            timings.clear()
            gc.collect()
            gc_time.update(total=0.0, full=0)
            with Profiler(args.profile if name == 'apply' else None, 'apply', args.preset):
                start = time.perf_counter()
                applied = services.apply_changeset(inventory=inv, origin=f'bench:{name}', operations=ops)
                elapsed = time.perf_counter() - start
            persist = timings.get('persist', 0.0)
            record = timings.get('log', 0.0)
            decode = timings.get('decode', 0.0)
            ram = timings.get('ram', 0.0)
            rest = elapsed - persist - record - decode - ram
            results.append(dict(run=name, seconds=round(elapsed, 2), changes=applied.num_changes,
                                seq=applied.seq, decode_s=round(decode, 2), ram_s=round(ram, 2),
                                persist_s=round(persist, 2), record_s=round(record, 2),
                                other_s=round(rest, 2), gc_s=round(gc_time['total'], 2),
                                full_gc=gc_time['full']))
            print(f'    {name}: {elapsed:.2f} s ({applied.num_changes} changes; decode {decode:.2f} s, RAM {ram:.2f} s, '
                  f'persist {persist:.2f} s, log {record:.2f} s, lock+commit+rest {rest:.2f} s; '
                  f'of all this, cyclic GC {gc_time["total"]:.2f} s in {gc_time["full"]} full collections)', flush=True)
    finally:
        gc.callbacks.remove(gc_callback)
        for owner, name, fn in saved:
            setattr(owner, name, fn)
    return dict(apply_build_ops_s=round(build_s, 2), apply_runs=results,
                apply_100k_s=results[0]['seconds'], apply_change=args.change)


# ================================================================================ report
def environment(db_url):
    from django.db import connection
    env = dict(python=platform.python_version(), cpus=os.cpu_count(), db_vendor=connection.vendor,
               db_url=db_url)
    try:
        with open('/proc/meminfo') as f:
            env['mem_gb'] = round(int(f.readline().split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    if connection.vendor == 'mysql':
        with connection.cursor() as c:
            c.execute('SELECT VERSION()')
            env['db_version'] = c.fetchone()[0]
            c.execute("SELECT @@innodb_buffer_pool_size")
            env['innodb_buffer_pool_mb'] = int(c.fetchone()[0]) // 2 ** 20
    try:
        env['commit'] = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True,
                                       text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--', 'inventory'], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if dirty:
            env['commit'] += '+uncommitted changes in inventory/'
    except (OSError, subprocess.SubprocessError):
        pass
    env['loadavg_start'] = os.getloadavg()[0]
    return env


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--db-url', default=os.environ.get('DYNAMO_DB_URL'),
                    help='database made by bench/generate.py (default: $DYNAMO_DB_URL)')
    ap.add_argument('--preset', default='custom', help='label for the report (small, medium, cms)')
    ap.add_argument('--changes', type=int, default=100_000, help='block replicas changed in (d)')
    ap.add_argument('--change', choices=('group', 'last_update', 'both'), default='both',
                    help='what (d) changes: group, last_update or both (default)')
    ap.add_argument('--no-revert', action='store_true', help='do not put the old values back after (d)')
    ap.add_argument('--skip-apply', action='store_true', help='leave out (d) (read-only run)')
    ap.add_argument('--repeat', type=int, default=3, help='repetitions of the full pass (median reported)')
    ap.add_argument('--seed', type=int, default=1, help='seed choosing the changed block replicas')
    ap.add_argument('--json', action='store_true', help='append the results to bench/results/results.jsonl')
    ap.add_argument('--profile', choices=('load', 'pass', 'apply'), help='cProfile one phase')
    ap.add_argument('--memory-breakdown', action='store_true', help='bytes per object by class (slow)')
    ap.add_argument('--gc-off-during-load', action='store_true',
                    help='experiment: gc.disable() around store.load(), then gc.freeze()')
    args = ap.parse_args(argv)
    if not args.db_url:
        ap.error('--db-url (or DYNAMO_DB_URL) is required')
    setup_django(args.db_url)

    result = dict(preset=args.preset, when=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                  env=environment(args.db_url), targets=TARGETS)
    inv, load = bench_load(args)
    result.update(load)
    c = load['counts']
    print(f'    {c["total"]} objects in {load["load_s"]} s; RSS +{(load["rss_after"] - load["rss_before"]) / 2 ** 20:.0f} MiB '
          f'= {load["bytes_per_object"]} B/object', flush=True)
    usage, passed = bench_pass(inv, args)
    result.update(passed)
    ok, bad = verify_usage(usage)
    result['usage_matches_sql'] = ok
    if not ok:
        print(f'    WARNING: Default-partition usage differs from SQL for {len(bad)} sites: {list(bad.items())[:3]}')
    if args.memory_breakdown:
        print('memory breakdown ...', flush=True)
        result['memory_breakdown'] = memory_breakdown(inv)
    if not args.skip_apply:
        result.update(bench_apply(inv, args))

    rows = [
        ('preset', args.preset, ''),
        ('objects', f'{c["total"]:,}', f'{c["sites"]} sites, {c["site_partitions"]} site partitions, '
                                        f'{c["groups"]} groups, {c["datasets"]:,} datasets, {c["blocks"]:,} blocks, '
                                        f'{c["dataset_replicas"]:,} dataset replicas, {c["block_replicas"]:,} block replicas'),
        ('(a) cold load', f'{load["load_s"]:.2f} s', ', '.join(f'{w} {t}' for w, _, t in load['load_steps'])),
        ('(b) RSS growth', f'{(load["rss_after"] - load["rss_before"]) / 2 ** 20:,.0f} MiB',
         f'peak RSS {load["rss_peak"] / 2 ** 20:,.0f} MiB'),
        ('(b) bytes/object', f'{load["bytes_per_object"]:.1f}', f'target <= {TARGETS["bytes_per_object"]}'),
        ('(c) full pass', f'{passed["full_pass_s"]:.3f} s',
         f'target <= {TARGETS["full_pass_s"]} s; usage {passed["full_pass_usage_s"]} s + sort {passed["full_pass_sort_s"]} s '
         f'(min {passed["full_pass_min_s"]} s); usage matches SQL: {ok}'),
    ]
    if not args.skip_apply:
        a = result['apply_runs'][0]
        def parts(r):
            return (f'decode {r["decode_s"]} s, RAM {r["ram_s"]} s, persist {r["persist_s"]} s, '
                    f'log {r["record_s"]} s, other {r["other_s"]} s (GC {r["gc_s"]} s)')
        rows.append((f'(d) change set ({a["changes"]:,})', f'{a["seconds"]:.2f} s',
                     f'target <= {TARGETS["apply_100k_s"]} s; {parts(a)}'))
        for r in result['apply_runs'][1:]:
            rows.append((f'(d) {r["run"]}', f'{r["seconds"]:.2f} s', parts(r)))
    print()
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    for name, value, note in rows:
        print(f'{name:<{width}}  {value:>{vwidth}}  {note}')
    if args.memory_breakdown:
        print('\nmemory by owner (bytes per object, pymalloc-rounded):')
        for owner, info in result['memory_breakdown'].items():
            if owner.startswith('_'):
                continue
            parts = ', '.join(f'{k} {v}' for k, v in info['parts'].items())
            per = f'{info["per_object"]:.0f} B/object' if info['per_object'] else ''
            print(f'  {owner:<15} {info["total_mb"]:>7.1f} MB  {per:<14} {parts}')
        print(f'  all reachable: {result["memory_breakdown"]["_all_mb"]} MB')
    result['loadavg_end'] = os.getloadavg()[0]
    print(f'\ncommit {result["env"].get("commit")}; load average {result["env"]["loadavg_start"]:.2f} at start, '
          f'{result["loadavg_end"]:.2f} at end (2 cores: above ~0.5 other processes competed)')
    if args.json:
        RESULTS.mkdir(parents=True, exist_ok=True)
        with open(RESULTS / 'results.jsonl', 'a') as f:
            f.write(json.dumps(result) + '\n')
        print(f'\nappended to {(RESULTS / "results.jsonl").relative_to(ROOT)}')


if __name__ == '__main__':
    main()
