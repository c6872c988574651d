"""Read-only queries over the RAM image for the web and the CLI (no database access).

What one query may cost is bounded (docs/web.md, "Limits"): at most MAX_PATTERNS patterns per
parameter, each at most MAX_PATTERN_LENGTH characters with at most MAX_WILDCARDS '*', and an
optional Budget of CPU seconds checked as rows are visited; answers are pages (offset, limit).
"""
import bisect
import fnmatch
import re
import time

from inventory.objects import ObjectError

TB = 10 ** 12
MAX_PATTERNS = 100
MAX_PATTERN_LENGTH = 1024
MAX_WILDCARDS = 16


class QueryTooLarge(ObjectError):
    """A query over the limits, or one that used up its budget: the caller should narrow it."""


class Budget:
    """CPU seconds of this thread a query may use (time.thread_time: waiting for the interpreter
    lock or for readers does not count); check() raises QueryTooLarge once they are spent."""
    __slots__ = ('seconds', 'deadline', 'what', '_count')

    def __init__(self, seconds, what='narrow the patterns or ask for fewer rows (limit)'):
        self.seconds = seconds
        self.deadline = time.thread_time() + seconds
        self.what = what
        self._count = 0

    def check(self, every=512):
        self._count += 1
        if self._count % every == 0 and time.thread_time() > self.deadline:
            raise QueryTooLarge(f'the query needed more than {self.seconds:g} s of CPU time and was '
                                f'stopped: {self.what}')


class _NoBudget:
    @staticmethod
    def check(every=512):
        pass


NO_BUDGET = _NoBudget()


class Rows(list):
    """One page of an answer; `total` is the number of rows of the whole answer."""
    total = 0


def split_patterns(patterns, name='pattern'):
    """Comma-separated (or listed) shell-style wildcards, within the limits; [] for none."""
    if not patterns:
        return []
    if isinstance(patterns, str):
        patterns = patterns.split(',')
    patterns = [p.strip() for p in patterns if p and p.strip()]
    if len(patterns) > MAX_PATTERNS:
        raise QueryTooLarge(f'{len(patterns)} {name} patterns; at most {MAX_PATTERNS} are allowed in one query')
    for p in patterns:
        if len(p) > MAX_PATTERN_LENGTH:
            raise QueryTooLarge(f'a {name} pattern of {len(p)} characters; at most {MAX_PATTERN_LENGTH} '
                                f'are allowed')
        if p.count('*') > MAX_WILDCARDS:
            raise QueryTooLarge(f'the {name} pattern {p[:40]!r}... has {p.count("*")} "*"; at most '
                                f'{MAX_WILDCARDS} are allowed')
    return patterns


def _matcher(patterns, name='pattern'):
    """A predicate for comma-separated shell-style wildcards; None or '' matches everything.
    Answers are remembered per name: a site or group is matched once per query, not once per
    replica."""
    patterns = split_patterns(patterns, name)
    if not patterns:
        return lambda name: True
    regex = re.compile('|'.join(f'(?:{fnmatch.translate(p)})' for p in patterns))
    known = {}

    def match(value):
        hit = known.get(value)
        if hit is None:
            hit = value is not None and regex.match(value) is not None
            if len(known) < 100_000:
                known[value] = hit
        return hit
    return match


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


def datasets(inventory, pattern=None, *, offset=0, limit=None, budget=NO_BUDGET):
    """Rows of the datasets matching `pattern`, by name: the page [offset, offset + limit)."""
    selected = sorted(dataset_candidates(inventory, pattern, budget), key=lambda d: d.name)
    rows = []
    for d in selected[offset:None if limit is None else offset + limit]:
        budget.check()
        rows.append(_dataset_row(inventory, d))
    page = Rows(rows)
    page.total = len(selected)
    return page


def sites(inventory, pattern=None, partition=None):
    match = _matcher(pattern, 'site')
    pmatch = _matcher(partition, 'partition')
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
    match = _matcher(pattern, 'group')
    return [{'name': g.name, 'olevel': g.olevel.label}
            for name, g in sorted(((n, g) for n, g in inventory.groups.items() if n is not None))
            if match(name)]


# ---------------------------------------------------------------- dataset name index
def _sorted_names(inventory):
    memo = _memo(inventory, 'sorted names')
    if memo.get('count') != len(inventory.datasets):   # (a read-only application may add datasets)
        memo.update(count=len(inventory.datasets), names=sorted(inventory.datasets))
    return memo['names']


def dataset_candidates(inventory, pattern, budget=NO_BUDGET):
    """Datasets matching wildcard patterns, each narrowed by its literal prefix (no full scan
    unless a pattern starts with a wildcard)."""
    if _literal(pattern):
        found = inventory.datasets.get(pattern)
        return [found] if found else []
    patterns = split_patterns(pattern, 'dataset')
    if not patterns:
        return list(inventory.datasets.values())
    match = _matcher(patterns, 'dataset')
    prefixes = {re.split(r'[*?\[]', p, maxsplit=1)[0] for p in patterns}
    datasets = inventory.datasets
    if '' in prefixes:
        out = []
        for name, d in datasets.items():
            budget.check()
            if match(name):
                out.append(d)
        return out
    names = _sorted_names(inventory)
    found = {}
    for prefix in sorted(prefixes):
        for i in range(bisect.bisect_left(names, prefix), len(names)):
            budget.check()
            name = names[i]
            if not name.startswith(prefix):
                break
            if name not in found and match(name):
                d = datasets.get(name)
                if d is not None:
                    found[name] = d
    return list(found.values())


def block_replicas(inventory, *, dataset=None, block=None, site=None, group=None, complete=None,
                   updated_since=None, offset=0, limit=None, budget=NO_BUDGET):
    """Blocks (with their matching replicas) for a dataset pattern or dataset#block pattern: the
    page [offset, offset + limit) of them, by dataset and block order; `total` counts them all."""
    if block:
        dataset_pattern, _, block_pattern = block.partition('#')
    else:
        dataset_pattern, block_pattern = dataset, None
    if not dataset_pattern:
        raise ValueError('give a dataset or block pattern')
    block_match = _matcher(block_pattern, 'block') if block_pattern else None
    site_match = _matcher(site, 'site') if site else None
    group_match = _matcher(group, 'group') if group else None
    filtered = not (site_match is None and group_match is None and complete is None and updated_since is None)
    out = Rows()
    total = 0
    end = None if limit is None else offset + limit
    for d in sorted(dataset_candidates(inventory, dataset_pattern, budget), key=lambda d: d.name):
        for b in d.blocks:
            budget.check()
            if block_match is not None and not block_match(b.name):
                continue
            in_page = total >= offset and (end is None or total < end)
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
                if not in_page:   # counted, not shown: one matching replica is enough to know
                    replicas.append(None)
                    break
                replicas.append({'site': br.site.name, 'group': br.group.name, 'complete': is_complete,
                                 'custodial': br.is_custodial, 'size': br.size, 'num_files': br.num_files,
                                 'last_update': br.last_update})
            if replicas or not filtered:
                if in_page:
                    out.append({'dataset': d.name, 'block': b.name, 'size': b.size, 'num_files': b.num_files,
                                'is_open': b.is_open, 'last_update': b.last_update, 'replicas': replicas})
                total += 1
    out.total = total
    return out


STATS_KEYS = ('site', 'group', 'data_type', 'status')


def stats(inventory, *, list_by='site', dataset=None, site=None, budget=NO_BUDGET):
    """Totals per site, group, data type or dataset status: dataset size, replica size (physical and
    projected), number of replicas and the replication factor (replica bytes / dataset bytes)."""
    if list_by not in STATS_KEYS:
        raise ValueError(f'list_by must be one of {", ".join(STATS_KEYS)}')
    site_match = _matcher(site, 'site') if site else None
    datasets = dataset_candidates(inventory, dataset, budget) if dataset else inventory.datasets.values()
    rows = {}

    def row(key):
        r = rows.get(key)
        if r is None:
            r = rows[key] = {'key': key, 'num_datasets': 0, 'dataset_size': 0, 'num_replicas': 0,
                             'replica_size': 0, 'projected_replica_size': 0, 'num_block_replicas': 0}
        return r
    for d in datasets:
        budget.check(every=64)
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
