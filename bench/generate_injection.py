#!/usr/bin/env python
"""A seeded injection document of a production campaign, written as it is generated (never held
in memory): `--files` files in blocks of `--files-per-block`, datasets of `--blocks-per-dataset`
blocks, each file at its origin site with its checksums, and block replicas at `--copies` other
sites listing every file (partial copies on their way to completion).

    python bench/generate_injection.py --files 1000000 --out /tmp/campaign.json [--seed N]

1,000,000 files with the defaults make 1.14 GB (1.06 GiB): CMS-like LFNs of ~180 characters, adler32, md5,
sha1 and sha256 checksums, four copies listed. The same seed gives the same document; names carry
`--tag`, so documents of different tags inject side by side.
"""
import argparse
import json
import os
import random
import sys
import uuid

PRIMARIES = ('TTToSemiLeptonic_TuneCP5_13p6TeV-powheg-pythia8', 'DYJetsToLL_M-50_TuneCP5_13p6TeV-madgraphMLM-pythia8',
             'QCD_PT-470to600_TuneCP5_13p6TeV_pythia8', 'WJetsToLNu_TuneCP5_13p6TeV-madgraphMLM-pythia8',
             'GluGluHToZZTo4L_M125_TuneCP5_13p6TeV_powheg2_JHUGenV752_pythia8')
TIERS = ('AODSIM', 'MINIAODSIM', 'NANOAODSIM')


def generate(out, *, files, files_per_block, blocks_per_dataset, copies, seed, tag):
    rng = random.Random(seed)
    sites = [f'T2_BENCH_{tag}_{i}' for i in range(4 + copies)]
    group = f'Bench{tag}'
    w = out.write
    w('{"site": ')
    w(json.dumps([{'name': s, 'host': f'se{i}.bench.example', 'storage_type': 'disk',
                   'backend': f'root://se{i}.bench.example//store', 'status': 'ready'} for i, s in enumerate(sites)]))
    w(',\n"group": ')
    w(json.dumps([{'name': group, 'olevel': 'block'}]))
    w(',\n"dataset": [\n')
    replicas = []   # (dataset, [(block, [lfn])]) per copy, written after the datasets
    made, d = 0, 0
    while made < files:
        primary = PRIMARIES[d % len(PRIMARIES)]
        tier = TIERS[d % len(TIERS)]
        processed = f'Bench{tag}Run3Summer26-{d:05d}_133X_mcRun3_2026_realistic_v1-v2'
        dataset = f'/{primary}/{processed}/{tier}'
        origin = sites[d % 4]
        blocks = []
        for b in range(blocks_per_dataset):
            if made >= files:
                break
            bname = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            lfns, items = [], []
            for _ in range(min(files_per_block, files - made)):
                name = str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()
                lfn = (f'/store/mc/Bench{tag}Run3Summer26/{primary}/{tier}/133X_mcRun3_2026_realistic_v1-v2/'
                       f'{2550000 + d}/{name}.root')
                lfns.append(lfn)
                bits = rng.getrandbits(256)
                items.append({'name': lfn, 'size': rng.randrange(500_000_000, 4_000_000_000),
                              'adler32': f'{bits & 0xffffffff:08x}', 'md5': f'{bits >> 128:032x}',
                              'sha1': f'{(bits >> 96) & (2 ** 160 - 1):040x}', 'sha256': f'{bits:064x}',
                              'site': origin})
                made += 1
            blocks.append({'name': bname, 'files': items})
            replicas.append((dataset, bname, lfns))
        w(('' if d == 0 else ',\n') + json.dumps({'name': dataset, 'status': 'valid', 'data_type': 'production',
                                                  'software_version': ['CMSSW_13_3_0', 'slc7_amd64_gcc11'],
                                                  'blocks': blocks}))
        d += 1
    w('\n],\n"datasetreplica": [\n')
    first = True
    by_dataset = {}
    for dataset, bname, lfns in replicas:
        by_dataset.setdefault(dataset, []).append((bname, lfns))
    for i, (dataset, blocks) in enumerate(by_dataset.items()):
        for c in range(copies):
            site = sites[4 + c]
            w(('' if first else ',\n') + json.dumps({'dataset': dataset, 'site': site, 'group': group, 'growing': False,
                                                     'blockreplicas': [{'block': b, 'files': lfns} for b, lfns in blocks]}))
            first = False
    w('\n]}\n')
    return d, len(replicas)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--files', type=int, default=1_000_000)
    ap.add_argument('--files-per-block', type=int, default=500)
    ap.add_argument('--blocks-per-dataset', type=int, default=10)
    ap.add_argument('--copies', type=int, default=4, help='other sites whose block replicas list every file')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--tag', default='A', help='part of every name (letters and digits)')
    ap.add_argument('--out', required=True, help='file to write, or - for standard output')
    args = ap.parse_args()
    out = sys.stdout if args.out == '-' else open(args.out, 'w', encoding='utf-8')
    try:
        datasets, blocks = generate(out, files=args.files, files_per_block=args.files_per_block,
                                    blocks_per_dataset=args.blocks_per_dataset, copies=args.copies,
                                    seed=args.seed, tag=args.tag)
    finally:
        if out is not sys.stdout:
            out.close()
    size = '' if out is sys.stdout else f', {os.path.getsize(args.out)} bytes'
    print(f'{args.files} files in {blocks} blocks of {datasets} datasets{size}', file=sys.stderr)


if __name__ == '__main__':
    main()
