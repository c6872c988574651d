#!/usr/bin/env python
"""Bytes through the gfal2 backend (docs/fileops.md): N files of 1 MB between two local XRootD servers.

    python bench/bench_fileops_bytes.py [--files 2000] [--size-mb 1] [--threads 32]

Starts two xrootd servers on free ports (tests/storage_servers.py), plants the files on the first, then
copies them all twice with the same thread count: once with raw gfal2 filecopy calls (create_parent,
adler32 verified against the expected value: what our backend asks of gfal2), once through
Gfal2Backend.copy. Reports files/s and MB/s of both and our per-file overhead beyond the copy itself:
(a) measured inside each call (CopyResult.seconds - transfer_seconds: the destination stat, the checks,
the result), (b) from the wall clocks, (backend - raw) x threads / files. Target: under 5 ms per file.
"""
import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gfal2  # noqa: E402

from fileops.backends import CopyOutcome  # noqa: E402
from fileops.backends.gfal import Gfal2Backend  # noqa: E402
from tests.storage_servers import XRootDServer  # noqa: E402


def workdir(name: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f'dynamo-bench-{name}-'))
    os.chmod(path, 0o755)  # the server user must reach it when we run as root
    return path


def plant(server: XRootDServer, count: int, size: int) -> list[tuple[str, str]]:
    block = os.urandom(size)
    files = []
    for i in range(count):
        data = i.to_bytes(8, 'big') + block[8:]  # distinct contents, distinct checksums
        lfn = f'/store/bench/{i // 100:03d}/file{i:05d}.root'
        server.plant(lfn, data)
        files.append((lfn, f'{zlib.adler32(data):08x}'))
    return files


def run_raw(source, dest, files, size, threads, timeout) -> float:
    local = threading.local()

    def one(item):
        lfn, checksum = item
        ctx = getattr(local, 'ctx', None)
        if ctx is None:
            ctx = local.ctx = gfal2.creat_context()
        params = ctx.transfer_parameters()
        params.create_parent = True
        params.timeout = timeout
        params.set_checksum(gfal2.checksum_mode.both, 'ADLER32', checksum)
        ctx.filecopy(params, source.pfn(lfn), dest.pfn('/raw' + lfn))

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, files))
    return time.monotonic() - started


def run_backend(backend, source, dest, files, size, threads):
    def one(item):
        lfn, checksum = item
        return backend.copy(source.pfn(lfn), dest.pfn('/ours' + lfn), size=size, checksum=('adler32', checksum))

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(one, files))
    return time.monotonic() - started, results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--files', type=int, default=2000)
    ap.add_argument('--size-mb', type=float, default=1.0)
    ap.add_argument('--threads', type=int, default=32)
    args = ap.parse_args()
    size = int(args.size_mb * (1 << 20))

    backend = Gfal2Backend()
    backend._context()  # the backend's XRootD client settings must precede the first raw context
    source = XRootDServer(workdir('src'), tpc_slots=args.threads * 2).start()
    dest = XRootDServer(workdir('dst'), tpc_slots=args.threads * 2).start()
    try:
        t = time.monotonic()
        files = plant(source, args.files, size)
        print(f'planted {len(files)} files of {size} bytes in {time.monotonic() - t:.1f} s')

        raw_seconds = run_raw(source, dest, files, size, args.threads, int(backend.timeout_for(size)))
        ours_seconds, results = run_backend(backend, source, dest, files, size, args.threads)

        assert all(r.outcome == CopyOutcome.COPIED for r in results)
        sample = files[:: max(1, len(files) // 50)]
        for lfn, checksum in sample:
            assert f'{zlib.adler32(dest.path("/ours" + lfn).read_bytes()):08x}' == checksum
        overhead = [r.seconds - r.transfer_seconds for r in results]
        mb = len(files) * size / 1e6
        print(f'machine: {os.cpu_count()} cores; {args.threads} threads; '
              f'{len(files)} files x {size / 1e6:.2f} MB, XRootD -> XRootD (third-party copy)')
        print(f'raw gfal2 filecopy : {raw_seconds:7.1f} s  {len(files) / raw_seconds:7.1f} files/s  '
              f'{mb / raw_seconds:7.1f} MB/s')
        print(f'Gfal2Backend.copy  : {ours_seconds:7.1f} s  {len(files) / ours_seconds:7.1f} files/s  '
              f'{mb / ours_seconds:7.1f} MB/s')
        print(f'copy itself per file (inside gfal2): mean {statistics.mean(r.transfer_seconds for r in results):.3f} s')
        print(f'overhead per file, measured in call: mean {1000 * statistics.mean(overhead):.2f} ms, '
              f'p50 {1000 * statistics.median(overhead):.2f} ms, '
              f'p99 {1000 * sorted(overhead)[int(0.99 * (len(overhead) - 1))]:.2f} ms (target < 5 ms)')
        print(f'overhead per file, from wall clocks: '
              f'{1000 * (ours_seconds - raw_seconds) * args.threads / len(files):.2f} ms')
    finally:
        source.stop()
        dest.stop()
        import shutil
        shutil.rmtree(source.workdir, ignore_errors=True)
        shutil.rmtree(dest.workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
