#!/usr/bin/env python
"""File operations through the task layer (docs/benchmarks.md, "File operations").

    python bench/bench_fileops.py --db-url mysql://root@127.0.0.1:3306/dynamo_bench_fileops updater [--tasks 100000]
    python bench/bench_fileops.py --db-url ... bookkeeping [--files 20000] [--workers 2] [--threads 16]
    python bench/bench_fileops.py --db-url ... bytes [--files 2000] [--size-mb 1] [--workers 1] [--threads 64]
                                               [--stream-below-mb 0]
    python bench/bench_fileops.py --db-url ... consistency [--files 1000000]

Every run starts from an empty database (flushed, migrated). The inventory is built through the
write path in this process, which then plays the server: the updater's pass is the cycle's commit
(fileops.updater.update) on this process's image, without the fork of the cycle's application.

- updater: N finished transfer tasks (N/100 blocks of 100 files, empty replicas at the destination)
  applied by one pass; the time of the pass and of its change set.
- bookkeeping: N files between two mock:// sites (gfal2's mock plugin moves no bytes): transfer
  records -> tasks -> queued (one pass), then `--workers` worker processes (manage.py dynamo_fileops
  --worker) and an updater pass every second until every task is applied; tasks/s from queued to
  applied.
- bytes: N files of 1 MB between two local XRootD servers (tests/storage_servers.py), the same way;
  files/s, MB/s, and the per-file overhead of the task layer beyond the copy itself (claims,
  reports, the updater's apply, from the workers' and the pass's own clocks).
- consistency: a storage dump of N files compared with an inventory of the same N files at the site
  (with 0.1 % missing and 0.1 % orphans); the time of the check.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(db_url):
    os.environ['DYNAMO_DB_URL'] = db_url
    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'dynamo_site.settings')
    os.environ.setdefault('DYNAMO_LOG_LEVEL', 'WARNING')
    os.environ.setdefault('DYNAMO_FILEOPS_RETRY_SECONDS', '1')    # a failed copy is tried again soon
    subprocess.run([sys.executable, str(ROOT / 'manage.py'), 'migrate', '-v0'], check=True, cwd=str(ROOT))
    subprocess.run([sys.executable, str(ROOT / 'manage.py'), 'flush', '--no-input', '-v0'], check=True, cwd=str(ROOT))
    import django
    django.setup()
    from django.db import connection
    with connection.cursor() as c:   # flush leaves the inventory's own tables (no Django-managed rows)
        for table in ('dyn_block_replica_files', 'dyn_block_replicas', 'dyn_dataset_replicas', 'dyn_files',
                      'dyn_blocks', 'dyn_datasets', 'dyn_quotas', 'dyn_sites', 'dyn_groups', 'dyn_change_set_chunks',
                      'dyn_change_sets', 'dyn_inventory_state'):
            c.execute(f'DELETE FROM {table}')


class Context:
    """What the updater's commit is given in the server: the image and the write path."""

    def __init__(self, inventory):
        from execution.runtime import RWLock
        self.inventory = inventory
        self.lock = RWLock()

    def apply(self, builder, *, origin='bench'):
        from inventory import services
        return services.apply_changeset(inventory=self.inventory, origin=origin, builder=builder,
                                        ram_lock=self.lock.write)


def load():
    from inventory import store
    inv, seq = store.load()
    inv.seq = seq
    return inv


def build(ctx, *, sites, blocks, files_per_block, size, checksum=lambda lfn: '00000001', dest_empty=True,
          dataset='/Bench/Fileops/RAW'):
    """A dataset of blocks x files complete at sites[0] and empty (owned) at sites[1]; returns LFNs."""
    from inventory.objects import Block, BlockReplica, Dataset, DatasetReplica, File, Group
    lfns = []

    def builder(inv):
        inv.update(Group('bench'))
        inv.update(Dataset(dataset, status='valid'))
        for b in range(blocks):
            name = f'b{b:05d}'
            inv.update(Block(name, dataset, size=size * files_per_block, num_files=files_per_block))
            for f in range(files_per_block):
                lfn = f'/store/bench/{name}/file{f:04d}.root'
                lfns.append(lfn)
                inv.update(File(lfn, f'{dataset}#{name}', size, (('adler32', checksum(lfn)),)))
        inv.update(DatasetReplica(dataset, sites[0], False, 'bench'))
        inv.update(DatasetReplica(dataset, sites[1], False, 'bench'))
        now = int(time.time())
        for b in range(blocks):
            inv.update(BlockReplica(f'{dataset}#b{b:05d}', sites[0], 'bench', False, -1, now))
            if dest_empty:
                inv.update(BlockReplica(f'{dataset}#b{b:05d}', sites[1], 'bench', False, 0, now, ()))
    t = time.monotonic()
    ctx.apply(builder)
    print(f'inventory: {blocks} blocks of {files_per_block} files built in {time.monotonic() - t:.1f} s', flush=True)
    return lfns


def add_sites(ctx, backends):
    from inventory.objects import Site
    ctx.apply(lambda inv: [inv.update(Site(name, backend=url, status='ready')) for name, url in backends.items()])


def record_transfers(site, blocks, dataset='/Bench/Fileops/RAW'):
    from transfers.services import block_transfers_record
    block_transfers_record(items=[(site, dataset, f'b{b:05d}', 'bench') for b in range(blocks)], origin='bench')


# ------------------------------------------------------------------------------------------ updater
def bench_updater(args):
    from django.utils import timezone
    from fileops import updater
    from fileops.models import FileTask
    ctx = Context(load())
    add_sites(ctx, {'SRC': 'mock://src/store', 'DST': 'mock://dst/store'})
    blocks = args.tasks // 100
    lfns = build(ctx, sites=['SRC', 'DST'], blocks=blocks, files_per_block=100, size=1 << 20)
    now = timezone.now()
    FileTask.objects.bulk_create(
        [FileTask(kind='transfer', state='done', site='DST', source='SRC', lfn=lfn, dataset='/Bench/Fileops/RAW',
                  block=lfn.split('/')[3], size=1 << 20, created=now, finished=now, outcome='copied')
         for lfn in lfns], batch_size=5000)
    print(f'{len(lfns)} finished tasks recorded', flush=True)
    for label in ('apply (one pass)', 'the same again (applied: nothing to read)'):
        t = time.monotonic()
        summary = updater.update(ctx)
        print(f'{label}: {time.monotonic() - t:.2f} s: {summary["message"]}', flush=True)
    inv = ctx.inventory
    complete = sum(1 for br in inv.sites['DST'].block_replicas() if br.is_complete())
    print(f'complete block replicas at DST: {complete} of {blocks}')


# ------------------------------------------------------------------------------------------ through workers
def run_workers(args, env, files, total_bytes=0):
    """Queue (one updater pass), start the workers, run updater passes until every task is applied."""
    from django.db.models import Count
    from fileops import updater
    from fileops.models import FileTask
    ctx = args.ctx
    t = time.monotonic()
    summary = updater.update(ctx)
    print(f'records -> {summary.get("queued", 0)} queued tasks in {time.monotonic() - t:.2f} s', flush=True)
    log = open('/tmp/bench-fileops-workers.log', 'w')
    counts_dir = Path(tempfile.mkdtemp(prefix='bench-fileops-'))
    start = time.monotonic()
    workers = [subprocess.Popen([sys.executable, str(ROOT / 'manage.py'), 'dynamo_fileops', '--worker',
                                 '--idle-exit', '60', '--threads', str(args.threads), '--batch', str(args.batch),
                                 '--counts', str(counts_dir / f'w{i}.json')],
                                env=env, cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT)
               for i in range(args.workers)]
    passes, pass_seconds = 0, 0.0
    while FileTask.objects.exclude(state='done', applied=True).exclude(state='held').exists():
        time.sleep(1.0)
        t = time.monotonic()
        updater.update(ctx)
        pass_seconds += time.monotonic() - t
        passes += 1
    wall = time.monotonic() - start
    for w in workers:
        w.send_signal(signal.SIGTERM)
    for w in workers:
        w.wait()
    states = dict(FileTask.objects.values_list('state').annotate(n=Count('id')).order_by())
    retried = FileTask.objects.filter(attempts__gt=0).count()
    done = FileTask.objects.filter(state='done').count()
    stats = [json.loads(p.read_text()) for p in sorted(counts_dir.glob('*.json'))]
    claim = sum(s['claim_seconds'] for s in stats)
    report = sum(s['report_seconds'] for s in stats)
    copy = sum(s['copy_seconds'] for s in stats)
    print(f'tasks: {states}, {retried} after failures')
    print(f'{done} of {files} tasks done and applied in {wall:.1f} s: {done / wall:.1f} tasks/s'
          + (f', {total_bytes / wall / 1e6:.1f} MB/s' if total_bytes else ''))
    print(f'updater passes: {passes}, {pass_seconds:.2f} s in all ({pass_seconds / max(done, 1) * 1e3:.3f} ms per task)')
    print(f'workers: claims {claim:.2f} s, reports {report:.2f} s in all: {(claim + report) / max(done, 1) * 1e3:.3f} '
          f'ms per task; storage calls {copy:.1f} s ({copy / max(done, 1) * 1e3:.2f} ms per task, summed over threads)')
    threads = args.threads * args.workers
    print(f'on the critical path per task: {(wall - copy / threads) / max(done, 1) * 1e3:.2f} ms (the wall clock '
          f'less the storage calls spread over the {threads} threads)')
    for s in stats:
        print(f'  worker: {json.dumps(s)}')


def bench_bookkeeping(args):
    args.ctx = ctx = Context(load())
    add_sites(ctx, {'SRC': 'mock://src/store', 'DST': 'mock://dst/store'})
    blocks = args.files // 100
    build(ctx, sites=['SRC', 'DST'], blocks=blocks, files_per_block=100, size=1 << 20)
    record_transfers('DST', blocks)
    env = dict(os.environ, DYNAMO_FILEOPS_LINK_ACTIVE='100000', DYNAMO_FILEOPS_SITE_ACTIVE='100000')
    os.environ.update(DYNAMO_FILEOPS_LINK_ACTIVE='100000', DYNAMO_FILEOPS_SITE_ACTIVE='100000')
    run_workers(args, env, blocks * 100)


def bench_bytes(args):
    from tests.storage_servers import XRootDServer
    size = int(args.size_mb * (1 << 20))

    def workdir(name):
        path = Path(tempfile.mkdtemp(prefix=f'dynamo-bench-{name}-'))
        os.chmod(path, 0o755)
        return path
    a = XRootDServer(workdir('a'), tpc_slots=max(16, args.threads)).start()
    b = XRootDServer(workdir('b'), tpc_slots=max(16, args.threads)).start()
    try:
        args.ctx = ctx = Context(load())
        add_sites(ctx, {'SRC': a.url, 'DST': b.url})
        body = os.urandom(size)
        contents = {}

        def checksum(lfn):
            data = zlib.crc32(lfn.encode()).to_bytes(4, 'big') + body[4:]
            contents[lfn] = data
            return f'{zlib.adler32(data):08x}'
        per_block = 100
        blocks = args.files // per_block
        lfns = build(ctx, sites=['SRC', 'DST'], blocks=blocks, files_per_block=per_block, size=size, checksum=checksum)
        for lfn in lfns:
            a.plant(lfn, contents[lfn])
        record_transfers('DST', blocks)
        env = dict(os.environ, DYNAMO_FILEOPS_LINK_ACTIVE=str(args.link_active),
                   DYNAMO_FILEOPS_STREAM_BELOW=str(int(args.stream_below_mb * (1 << 20))))
        run_workers(args, env, len(lfns), total_bytes=len(lfns) * size)
        bad = [lfn for lfn in lfns if b.path(lfn).read_bytes() != contents[lfn]]
        print(f'files at the destination that differ from the source: {len(bad)}')
    finally:
        a.stop()
        b.stop()


# ------------------------------------------------------------------------------------------ consistency
def bench_consistency(args):
    from fileops import consistency
    ctx = Context(load())
    add_sites(ctx, {'SRC': 'file:///bench/src', 'DST': 'file:///bench/dst'})
    blocks = args.files // 1000
    lfns = build(ctx, sites=['DST', 'SRC'], blocks=blocks, files_per_block=1000, size=1000, dest_empty=False)
    dump = Path(tempfile.mkdtemp(prefix='bench-consistency-')) / 'dst.txt'
    old = int(time.time()) - 60 * 86400
    missing = set(lfns[::1000])
    with open(dump, 'w') as f:
        f.write('# a storage dump of DST: SIZE MTIME PATH\n')
        for lfn in lfns:
            if lfn not in missing:
                f.write(f'1000 {old} {lfn}\n')
        for i in range(len(missing)):
            f.write(f'1000 {old} /store/dark/orphan{i:06d}.root\n')
    print(f'dump of {len(lfns)} lines written', flush=True)
    t = time.monotonic()
    report = consistency.report_request(site='DST', claim='bench', threshold=0.01)
    listing = consistency.read_dump(str(dump), 'DST', roots=['/store'])
    t_read = time.monotonic() - t
    report = consistency.run_check(report, listing=listing)
    wall = time.monotonic() - t
    print(f'consistency of {report.inventory_files} inventory files against {report.listed_files} dump lines: '
          f'{wall:.1f} s (reading the dump {t_read:.1f} s): {report.state}, {report.missing} missing, '
          f'{report.orphans} orphans')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--db-url', required=True)
    sub = ap.add_subparsers(dest='what', required=True)
    p = sub.add_parser('updater')
    p.add_argument('--tasks', type=int, default=100_000)
    for name in ('bookkeeping', 'bytes'):
        p = sub.add_parser(name)
        p.add_argument('--files', type=int, default=20_000 if name == 'bookkeeping' else 2000)
        p.add_argument('--workers', type=int, default=2 if name == 'bookkeeping' else 1)
        p.add_argument('--threads', type=int, default=16 if name == 'bookkeeping' else 64)
        p.add_argument('--batch', type=int, default=500 if name == 'bookkeeping' else 64)
        if name == 'bytes':
            p.add_argument('--size-mb', type=float, default=1.0)
            p.add_argument('--stream-below-mb', type=float, default=0.0)
            p.add_argument('--link-active', type=int, default=64, help='tasks at once on the link')
    p = sub.add_parser('consistency')
    p.add_argument('--files', type=int, default=1_000_000)
    args = ap.parse_args()
    setup(args.db_url)
    {'updater': bench_updater, 'bookkeeping': bench_bookkeeping, 'bytes': bench_bytes,
     'consistency': bench_consistency}[args.what](args)


if __name__ == '__main__':
    main()
