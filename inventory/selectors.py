"""Read-only queries over the RAM image for the web and the CLI (no database access)."""
import fnmatch
import re

TB = 10 ** 12


def _matcher(patterns):
    """A predicate for comma-separated shell-style wildcards; None or '' matches everything."""
    if not patterns:
        return lambda name: True
    if isinstance(patterns, str):
        patterns = patterns.split(',')
    regex = re.compile('|'.join(f'(?:{fnmatch.translate(p.strip())})' for p in patterns if p.strip()))
    return lambda name: name is not None and regex.match(name) is not None


def _literal(pattern):
    return pattern and isinstance(pattern, str) and not any(c in pattern for c in '*?[,')


def _memo(inventory, name):
    """A dict of answers derived from this image, kept on the image and dropped when its version
    changes (so nothing outlives the objects it was computed from)."""
    memo = inventory.memo
    if memo.get(None) != inventory.version:
        memo.clear()
        memo[None] = inventory.version
    return memo.setdefault(name, {})


def _dataset_row(inventory, d):
    """The answer row of one dataset, memoized for the current version of the image."""
    rows = _memo(inventory, 'dataset rows')
    row = rows.get(d.name)
    if row is not None:
        return row
    row = {'name': d.name, 'size': d.size, 'num_files': d.num_files, 'num_blocks': len(d.blocks),
           'status': d.status.label, 'type': d.data_type.label, 'is_open': d.is_open,
           'last_update': d.last_update, 'sites': sorted(r.site.name for r in d.replicas)}
    rows[d.name] = row
    return row


def datasets(inventory, pattern=None):
    selected = dataset_candidates(inventory, pattern)
    return [_dataset_row(inventory, d) for d in sorted(selected, key=lambda d: d.name)]


def sites(inventory, pattern=None, partition=None):
    match = _matcher(pattern)
    pmatch = _matcher(partition)
    out = []
    for site in sorted(inventory.sites.values(), key=lambda s: s.name):
        if not match(site.name):
            continue
        parts = []
        for part, sp in sorted(site.partitions.items(), key=lambda kv: kv[0].name):
            if not pmatch(part.name):
                continue
            parts.append({'name': part.name, 'type': 'composite' if part.is_superpartition else 'basic',
                          'quota': sp.quota, 'usage': sp.usage(True), 'projected_usage': sp.usage(False)})
        basic = [p for p in parts if p['type'] == 'basic']
        out.append({'name': site.name, 'host': site.host, 'storage_type': site.storage_type.label,
                    'backend': site.backend, 'status': site.status.label,
                    'num_dataset_replicas': len(site._dataset_replicas), 'partitions': parts,
                    'total_quota': sum(max(p['quota'], 0) for p in basic),
                    'total_usage': sum(p['usage'] for p in basic),
                    'total_projected_usage': sum(p['projected_usage'] for p in basic)})
    return out


def groups(inventory, pattern=None):
    match = _matcher(pattern)
    return [{'name': g.name, 'olevel': g.olevel.label}
            for name, g in sorted(((n, g) for n, g in inventory.groups.items() if n is not None))
            if match(name)]


# ---------------------------------------------------------------- dataset name index
def _sorted_names(inventory):
    memo = _memo(inventory, 'sorted names')
    if memo.get('count') != len(inventory.datasets):   # (a read-only application may add datasets)
        memo.update(count=len(inventory.datasets), names=sorted(inventory.datasets))
    return memo['names']


def dataset_candidates(inventory, pattern):
    """Datasets matching a wildcard pattern, narrowed by its literal prefix (no full scan)."""
    import bisect
    if _literal(pattern):
        found = inventory.datasets.get(pattern)
        return [found] if found else []
    match = _matcher(pattern)
    if not pattern or ',' in pattern:
        return [d for name, d in inventory.datasets.items() if match(name)]
    prefix = re.split(r'[*?\[]', pattern, maxsplit=1)[0]
    names = _sorted_names(inventory)
    start = bisect.bisect_left(names, prefix)
    out = []
    datasets = inventory.datasets
    for i in range(start, len(names)):
        name = names[i]
        if not name.startswith(prefix):
            break
        if match(name):
            d = datasets.get(name)
            if d is not None:
                out.append(d)
    return out


def block_replicas(inventory, *, dataset=None, block=None, site=None, group=None, complete=None,
                   updated_since=None):
    """Blocks (with their matching replicas) for a dataset pattern or dataset#block pattern."""
    if block:
        dataset_pattern, _, block_pattern = block.partition('#')
    else:
        dataset_pattern, block_pattern = dataset, None
    if not dataset_pattern:
        raise ValueError('give a dataset or block pattern')
    block_match = _matcher(block_pattern) if block_pattern else None
    site_match = _matcher(site) if site else None
    group_match = _matcher(group) if group else None
    out = []
    for d in sorted(dataset_candidates(inventory, dataset_pattern), key=lambda d: d.name):
        for b in d.blocks:
            if block_match is not None and not block_match(b.name):
                continue
            replicas = []
            for br in b.replicas:
                if site_match is not None and not site_match(br.site.name):
                    continue
                if group_match is not None and not group_match(br.group.name):
                    continue
                is_complete = br.is_complete()
                if complete is not None and is_complete != complete:
                    continue
                if updated_since is not None and br.last_update < updated_since:
                    continue
                replicas.append({'site': br.site.name, 'group': br.group.name, 'complete': is_complete,
                                 'custodial': br.is_custodial, 'size': br.size, 'num_files': br.num_files,
                                 'last_update': br.last_update})
            if replicas or (site_match is None and group_match is None and complete is None and updated_since is None):
                out.append({'dataset': d.name, 'block': b.name, 'size': b.size, 'num_files': b.num_files,
                            'is_open': b.is_open, 'last_update': b.last_update, 'replicas': replicas})
    return out


STATS_KEYS = ('site', 'group', 'data_type', 'status')


def stats(inventory, *, list_by='site', dataset=None, site=None):
    """Totals per site, group, data type or dataset status: dataset size, replica size (physical and
    projected), number of replicas and the replication factor (replica bytes / dataset bytes)."""
    if list_by not in STATS_KEYS:
        raise ValueError(f'list_by must be one of {", ".join(STATS_KEYS)}')
    site_match = _matcher(site) if site else None
    datasets = dataset_candidates(inventory, dataset) if dataset else inventory.datasets.values()
    rows = {}

    def row(key):
        r = rows.get(key)
        if r is None:
            r = rows[key] = {'key': key, 'num_datasets': 0, 'dataset_size': 0, 'num_replicas': 0,
                             'replica_size': 0, 'projected_replica_size': 0, 'num_block_replicas': 0}
        return r
    for d in datasets:
        dsize = d.size
        dataset_keys = set()
        for replica in d.replicas:
            site_name = replica.site.name
            if site_match is not None and not site_match(site_name):
                continue
            for br in replica.block_replicas:
                if list_by == 'site':
                    key = site_name
                elif list_by == 'group':
                    key = br.group.name or '(no group)'
                elif list_by == 'data_type':
                    key = d.data_type.label
                else:
                    key = d.status.label
                r = row(key)
                r['num_block_replicas'] += 1
                r['replica_size'] += br.size
                r['projected_replica_size'] += br.block.size
                if (key, site_name) not in dataset_keys:
                    dataset_keys.add((key, site_name))
                    r['num_replicas'] += 1
        for key in {k for k, _ in dataset_keys} | ({d.data_type.label if list_by == 'data_type' else d.status.label}
                                                   if list_by in ('data_type', 'status') else set()):
            r = row(key)
            r['num_datasets'] += 1
            r['dataset_size'] += dsize
    for r in rows.values():
        r['replication_factor'] = round(r['projected_replica_size'] / r['dataset_size'], 3) if r['dataset_size'] else 0.
    return sorted(rows.values(), key=lambda r: r['key'])
