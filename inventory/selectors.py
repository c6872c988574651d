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


def datasets(inventory, pattern=None):
    if _literal(pattern):
        found = inventory.datasets.get(pattern)
        selected = [found] if found else []
    else:
        match = _matcher(pattern)
        selected = [d for name, d in inventory.datasets.items() if match(name)]
    return [{'name': d.name, 'size': d.size, 'num_files': d.num_files, 'num_blocks': len(d.blocks),
             'status': d.status.label, 'type': d.data_type.label, 'is_open': d.is_open,
             'last_update': d.last_update, 'sites': sorted(r.site.name for r in d.replicas)}
            for d in sorted(selected, key=lambda d: d.name)]


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
