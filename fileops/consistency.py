"""Consistency of a site's storage with the inventory: list the storage under the site's LFN roots
(gfal2, recursively, or a storage dump file), compare with the files the inventory says are there,
read before and after the listing, and leave out every file an operation in flight may explain.

- a **missing** file (the inventory has it, storage has not, or with another size) makes its block
  replica incomplete and is transferred again;
- an **orphan** (dark) file older than the safety age is deleted; younger ones are only reported;
- with more of either than the threshold (a fraction of the site's files), nothing is done.

Listing and comparing run where storage is reachable (a worker, or `manage.py dynamo_consistency`)
and write a report; the actions are taken by the updater's commit (`apply_reports`), through the
write path, against the image of that moment. The built-in cycle `consistency` requests checks.

Dump format (one file per line, '#' starts a comment, gzip when the name ends in .gz):
    SIZE MTIME PATH
SIZE in bytes, MTIME in UNIX seconds, PATH an LFN (/store/...) or a PFN (scheme://...), the rest of
the line (it may hold spaces). The dump counts as taken at the file's modification time.
"""
import gzip
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone as dt_timezone

from django.db import connections, transaction
from django.db.models import Q
from django.utils import timezone

from fileops import services
from fileops.conf import conf as fileops_conf
from fileops.models import (ConsistencyEntry, ConsistencyReport, EntryKind, FileTask, ReportState, SiteStorage,
                            TaskKind, TaskState)
from fileops.pfn import PfnError, join_backend, lfn_of, resolve_pfn
from fileops.planning import find_block_replica, with_files

log = logging.getLogger('dynamo.fileops')
ORIGIN = 'consistency'
MAX_ENTRIES = 100_000       # entries kept per kind in a report (the counts are always whole)
_CHUNK = 1000


class ConsistencyError(Exception):
    """The check cannot run (no such site, no backend, a listing that failed, a bad dump)."""


# ------------------------------------------------------------------------------ listing
@dataclass
class Listing:
    files: dict = field(default_factory=dict)      # lfn -> (size, mtime, path as listed)
    unmapped: list = field(default_factory=list)   # paths that name no LFN of the site
    taken: float = 0.0                             # when it was taken (UNIX seconds)


def site_storage(site_name):
    """(backend, filename_mapping, roots) of a site, from the inventory store and SiteStorage."""
    import json
    from inventory.models import Site
    row = Site.objects.using(FileTask.objects.db).filter(name=site_name).values_list('backend', 'filename_mapping') \
        .first()
    if row is None:
        raise ConsistencyError(f'no site {site_name} in the inventory')
    backend, mapping = row[0], json.loads(row[1] or '{}')
    storage = SiteStorage.objects.filter(site=site_name).first()
    roots = storage.lfn_roots if storage and storage.lfn_roots else fileops_conf().consistency_roots
    return backend, mapping, [r.strip().rstrip('/') or '/' for r in roots.split(',') if r.strip()]


class _Namer:
    """PFN -> LFN for one site: the backend rule inverted, or, for a site with a filename mapping,
    a prefix swap of each root that is accepted only when the mapping gives the PFN back."""

    PROBE = 'dynamo-consistency-probe'

    def __init__(self, backend, mapping, roots):
        self.backend, self.mapping = backend, mapping
        self.prefixes = []
        if mapping.get('gfal2'):
            for root in roots:
                try:
                    self.prefixes.append((root, self.root_pfn(root)))
                except PfnError:
                    pass

    def root_pfn(self, root):
        """The PFN of the directory of an LFN root: for a mapping, where a file just under the root
        goes (chains usually match /store/(.*), not /store itself)."""
        if not self.mapping.get('gfal2'):
            return join_backend(self.backend, root)
        probe = resolve_pfn(f'{root.rstrip("/")}/{self.PROBE}', filename_mapping=self.mapping)
        if not probe.endswith('/' + self.PROBE):
            raise PfnError(f'the mapping does not place {root} as a directory')
        return probe[:-len(self.PROBE) - 1]

    def lfn(self, path):
        if '://' not in path:
            return path
        if not self.mapping.get('gfal2'):
            return lfn_of(path, backend=self.backend)
        for root, prefix in self.prefixes:
            if path.startswith(prefix + '/'):
                lfn = root.rstrip('/') + path[len(prefix):]
                try:
                    if resolve_pfn(lfn, filename_mapping=self.mapping) == path:
                        return lfn
                except PfnError:
                    return None
        return None


def _under(lfn, roots):
    return any(root == '/' or lfn == root or lfn.startswith(root + '/') for root in roots)


def list_storage(site_name, *, roots, backend=None, storage=None):
    """The site's files under `roots`, listed through gfal2 (`backend`: a Gfal2Backend)."""
    from fileops.backends import ErrorKind, FileOpError
    site_backend, mapping, _ = site_storage(site_name)
    if not site_backend and not mapping.get('gfal2'):
        raise ConsistencyError(f'site {site_name} has no backend')
    if backend is None:
        from fileops.backends.gfal import Gfal2Backend
        backend = Gfal2Backend(ca_dir=fileops_conf().ca_dir or None, x509_proxy=os.environ.get('X509_USER_PROXY'))
    namer = _Namer(site_backend, mapping, roots)
    listing = Listing(taken=time.time())
    for root in roots:
        try:
            top = namer.root_pfn(root)
        except PfnError as exc:
            raise ConsistencyError(f'no PFN for the root {root}: {exc}') from None
        try:
            for path, size, mtime in backend.listdir(top):
                _add(listing, namer, path, size, mtime, roots)
        except FileOpError as exc:
            if exc.kind == ErrorKind.NO_SUCH_FILE and not _inventory_has_under(site_name, root):
                continue      # nothing there, and the inventory expects nothing there
            raise ConsistencyError(f'listing {top} failed: {exc}') from None
    return listing


def _add(listing, namer, path, size, mtime, roots):
    lfn = namer.lfn(path)
    if lfn is None:
        listing.unmapped.append(path)
    elif _under(lfn, roots):
        listing.files[lfn] = (size, mtime, path)


def read_dump(path, site_name, *, roots):
    """The files of a storage dump (the format is in this module's docstring)."""
    site_backend, mapping, _ = site_storage(site_name)
    namer = _Namer(site_backend, mapping, roots)
    try:
        taken = os.stat(path).st_mtime
        opener = gzip.open if str(path).endswith('.gz') else open
        listing = Listing(taken=taken)
        with opener(path, 'rt', encoding='utf-8', errors='surrogateescape') as f:
            for number, line in enumerate(f, 1):
                line = line.rstrip('\n')
                if not line or line.startswith('#'):
                    continue
                parts = line.split(None, 2)
                try:
                    size, mtime, name = int(parts[0]), int(float(parts[1])), parts[2]
                except (ValueError, IndexError):
                    raise ConsistencyError(f'{path}, line {number}: expected "SIZE MTIME PATH", got {line[:120]!r}') \
                        from None
                _add(listing, namer, name, size, mtime, roots)
    except OSError as exc:
        raise ConsistencyError(f'cannot read the dump {path}: {exc.strerror or exc}') from None
    return listing


# ------------------------------------------------------------------------------ the inventory's side
def inventory_files(site_name, *, roots, lfns=None):
    """{lfn: size} of the files the inventory's block replicas at the site hold, under `roots` (of
    `lfns` only, when given), read from the store (a worker has no image): complete replicas hold
    every file of their block."""
    db = FileTask.objects.db
    complete = ('SELECT f.name, f.size FROM dyn_block_replicas br JOIN dyn_files f ON f.block_id = br.block_id '
                'WHERE br.site_id = %s AND br.is_complete = %s')
    partial = ('SELECT f.name, f.size FROM dyn_block_replica_files brf JOIN dyn_files f ON f.id = brf.file_id '
               'WHERE brf.site_id = %s')
    files = {}
    with connections[db].cursor() as c:
        c.execute('SELECT id FROM dyn_sites WHERE name = %s', [site_name])
        row = c.fetchone()
        if row is None:
            raise ConsistencyError(f'no site {site_name} in the inventory')
        site_id = row[0]
        if lfns is None:
            for sql, params in ((complete, [site_id, True]), (partial, [site_id])):
                c.execute(sql, params)
                files.update(c)
        else:
            lfns = sorted(lfns)
            for start in range(0, len(lfns), _CHUNK):
                chunk = lfns[start:start + _CHUNK]
                names = f' AND f.name IN ({", ".join(["%s"] * len(chunk))})'
                for sql, params in ((complete, [site_id, True]), (partial, [site_id])):
                    c.execute(sql + names, params + chunk)
                    files.update(c)
    if roots != ['/']:
        files = {lfn: size for lfn, size in files.items() if _under(lfn, roots)}
    return files


def _inventory_has_under(site_name, root):
    return bool(inventory_files(site_name, roots=[root]))


def touched_lfns(site_name, since):
    """LFNs at the site that an operation in flight, or one that ended since `since`, may have
    changed: they are neither missing nor orphans whatever the listing says."""
    moment = datetime.fromtimestamp(since, tz=dt_timezone.utc)
    return set(FileTask.objects.filter(site=site_name).filter(
        Q(state__in=(TaskState.NEW, TaskState.QUEUED, TaskState.ACTIVE, TaskState.FAILED, TaskState.HELD)) |
        Q(state=TaskState.DONE, applied=False) | Q(finished__gte=moment)).values_list('lfn', flat=True))


# ------------------------------------------------------------------------------ comparing
@dataclass
class Comparison:
    inventory_files: int
    listed_files: int
    missing: list            # [(lfn, size on storage or None)]
    orphans: list            # [(lfn, path, size, mtime)] older than the safety age
    young: list              # the same, younger
    skipped: int


def compare(*, before, after, listing, touched, now, safety_seconds):
    """Missing: held by the inventory before and after the listing, not listed (or with another
    size). Orphans: listed, held neither before nor after. Files in `touched` are neither. `after`
    may hold only the files that differ between `before` and the listing."""
    missing, orphans, young = [], [], []
    skipped = 0
    listed = listing.files
    for lfn in before.keys() & after.keys():
        entry = listed.get(lfn)
        if entry is not None and entry[0] == after[lfn]:
            continue
        if lfn in touched:
            skipped += 1
            continue
        missing.append((lfn, None if entry is None else entry[0]))
    for lfn, (size, mtime, path) in listed.items():
        if lfn in before or lfn in after:
            continue
        if lfn in touched:
            skipped += 1
            continue
        (orphans if now - mtime >= safety_seconds else young).append((lfn, path, size, mtime))
    missing.sort()
    orphans.sort()
    young.sort()
    return Comparison(len(before), len(listed), missing, orphans, young, skipped)


# ------------------------------------------------------------------------------ a whole check
def report_request(*, site, dry_run=False, safety_days=None, threshold=None, roots=None, source='gfal2', claim=''):
    """A new consistency report: NEW for a worker to take, or RUNNING when `claim` runs it now."""
    cf = fileops_conf()
    if roots is None:
        roots = site_storage(site)[2]
    now = timezone.now()
    return ConsistencyReport.objects.create(
        site=site, dry_run=dry_run, source=source, roots=','.join(roots),
        safety_days=cf.consistency_safety_days if safety_days is None else safety_days,
        threshold=cf.consistency_threshold if threshold is None else threshold, requested=now,
        state=ReportState.RUNNING if claim else ReportState.NEW, claim=claim, started=now if claim else None)


def run_check(report, *, listing=None, backend=None):
    """List (unless `listing` is given: a dump read already), compare and record; returns the report."""
    roots = [r for r in report.roots.split(',') if r] or ['/']
    try:
        start = time.time()
        before = inventory_files(report.site, roots=roots)
        if listing is None:
            listing = list_storage(report.site, roots=roots, backend=backend)
        # after the listing, only the files that differ need reading again
        listed = listing.files
        differ = {lfn for lfn, size in before.items() if lfn not in listed or listed[lfn][0] != size}
        differ.update(lfn for lfn in listed if lfn not in before)
        after = inventory_files(report.site, roots=roots, lfns=differ)
        since = min(start, listing.taken)
        touched = touched_lfns(report.site, since)
        result = compare(before=before, after=after, listing=listing, touched=touched, now=time.time(),
                         safety_seconds=report.safety_days * 86400)
    except ConsistencyError as exc:
        return _finish(report, ReportState.FAILED, str(exc))
    report.listed = datetime.fromtimestamp(listing.taken, tz=dt_timezone.utc)
    report.inventory_files = result.inventory_files
    report.listed_files = result.listed_files
    report.missing, report.orphans, report.young_orphans = len(result.missing), len(result.orphans), len(result.young)
    report.skipped = result.skipped
    limit = report.threshold * result.inventory_files
    over = [f'{n} {what}' for n, what in ((report.missing, 'missing'), (report.orphans, 'orphans')) if n > limit]
    if over:
        state, message = ReportState.STOPPED, (f'{" and ".join(over)} files: over the threshold of '
                                               f'{report.threshold:.2%} of {result.inventory_files} files; nothing done')
    elif report.dry_run or not (result.missing or result.orphans):
        state, message = ReportState.REPORTED, 'dry run: nothing done' if report.dry_run else 'consistent'
    else:
        state, message = ReportState.COMPARED, 'compared; the updater acts on it'
    if listing.unmapped:
        message += f'; {len(listing.unmapped)} listed paths name no LFN of the site'
    entries = [ConsistencyEntry(report=report, kind=EntryKind.MISSING, lfn=lfn, size=size)
               for lfn, size in result.missing[:MAX_ENTRIES]]
    entries += [ConsistencyEntry(report=report, kind=EntryKind.ORPHAN, lfn=lfn, pfn=path, size=size, mtime=mtime)
                for lfn, path, size, mtime in result.orphans[:MAX_ENTRIES]]
    entries += [ConsistencyEntry(report=report, kind=EntryKind.ORPHAN, lfn=lfn, pfn=path, size=size, mtime=mtime,
                                 action='young') for lfn, path, size, mtime in result.young[:MAX_ENTRIES]]
    with transaction.atomic(using=ConsistencyReport.objects.db):
        ConsistencyEntry.objects.bulk_create(entries, batch_size=_CHUNK)
        _finish(report, state, message)
    return report


def _finish(report, state, message):
    report.state = state
    report.message = message
    if state != ReportState.COMPARED:
        report.finished = timezone.now()
    report.claim = ''
    report.save()
    log.info('consistency of %s: %s (%s)', report.site, state, message)
    return report


def fail(report, message):
    return _finish(report, ReportState.FAILED, message)


def claim_next(claim):
    """A requested check for the worker `claim`, marked running; None if there is none."""
    for report in ConsistencyReport.objects.filter(state=ReportState.NEW).order_by('id')[:5]:
        if ConsistencyReport.objects.filter(id=report.id, state=ReportState.NEW).update(
                state=ReportState.RUNNING, claim=claim, started=timezone.now()):
            report.refresh_from_db()
            return report
    return None


def check_requested(*, report_id=None, claim=None, backend=None):
    """Run a requested check (a Celery message's, or the next one for an embedded worker)."""
    claim = claim or services.new_claim()
    if report_id is None:
        report = claim_next(claim)
    elif ConsistencyReport.objects.filter(id=report_id, state=ReportState.NEW).update(
            state=ReportState.RUNNING, claim=claim, started=timezone.now()):
        report = ConsistencyReport.objects.get(id=report_id)
    else:
        report = None
    if report is None:
        return None
    return run_check(report, backend=backend).state


# ------------------------------------------------------------------------------ acting (the updater)
def apply_reports(changes):
    """Act on compared reports: missing files leave their block replicas (one change set) and
    owned replicas get a transfer record, so that the updater copies them again; old orphans become
    deletion tasks. What changed since the comparison is checked against the image first."""
    from transfers.services import block_transfers_record
    counts = {'consistency_reports': 0, 'consistency_retransfers': 0, 'consistency_deletions': 0}
    for report in ConsistencyReport.objects.filter(state=ReportState.COMPARED).order_by('id'):
        touched = touched_lfns(report.site, report.listed.timestamp() if report.listed else time.time())
        missing = [lfn for lfn in report.entries.filter(kind=EntryKind.MISSING).values_list('lfn', flat=True)
                   if lfn not in touched]
        replicas = {}

        def builder(inventory):
            by_replica = {}
            for lfn in missing:
                lfile = inventory.find_file(lfn)
                if lfile is None:
                    continue
                dataset, _, block = lfile.block_full_name.partition('#')
                br = find_block_replica(inventory, report.site, dataset, block)
                if br is not None and br.has_file(lfile):
                    by_replica.setdefault((dataset, block), (br, []))[1].append(lfile)
            now = int(time.time())
            for (dataset, block), (br, files) in by_replica.items():
                new = with_files(br, block_files={f.id: f.size for f in br.block.files},
                                 removed=[f.id for f in files], last_update=now)
                if new is None:
                    continue
                group = br.group.name
                if new.file_ids == () and group is None:
                    inventory.delete(br)
                else:
                    inventory.update(new)
                    if group is not None:
                        replicas[(dataset, block)] = group
        if missing:
            changes.apply(builder)
        retransfers = block_transfers_record(
            items=[(report.site, dataset, block, group) for (dataset, block), group in sorted(replicas.items())],
            origin=ORIGIN, origin_id=report.id, reason='files missing from storage') if replicas else 0
        orphans = [services.NewTask(TaskKind.DELETION, report.site, lfn, '', '', size or 0, origin=ORIGIN)
                   for lfn, size in report.entries.filter(kind=EntryKind.ORPHAN).exclude(action='young')
                   .values_list('lfn', 'size') if lfn not in touched]
        services.tasks_create(tasks=orphans)
        report.entries.filter(kind=EntryKind.MISSING, lfn__in=missing[:MAX_ENTRIES]).update(action='retransfer')
        report.entries.filter(kind=EntryKind.ORPHAN).exclude(action='young').update(action='delete')
        report.retransfers, report.deletions = retransfers, len(orphans)
        _finish(report, ReportState.APPLIED, f'{len(missing)} missing files in {retransfers} block replicas '
                                             f'transferred again; {len(orphans)} orphans being deleted')
        counts['consistency_reports'] += 1
        counts['consistency_retransfers'] += retransfers
        counts['consistency_deletions'] += len(orphans)
    return {k: v for k, v in counts.items() if v}


# ------------------------------------------------------------------------------ the `consistency` cycle
def run(inventory, params):
    return {'params': params}


def commit(result, context):
    """Request checks: of params['sites'], or of the `count` (default 1) sites with a backend
    checked longest ago; workers list them, the updater acts on what they find."""
    params = (result or {}).get('params') or {}
    sites = params.get('sites')
    inventory = context.inventory
    if not sites:
        candidates = sorted(name for name, s in inventory.sites.items() if s.backend or s.filename_mapping)
        last = {}
        for site, requested in ConsistencyReport.objects.values_list('site', 'requested').order_by('requested'):
            last[site] = requested
        epoch = datetime.min.replace(tzinfo=dt_timezone.utc)
        sites = sorted(candidates, key=lambda s: (last.get(s, epoch), s))[:int(params.get('count', 1))]
    busy = set(ConsistencyReport.objects.filter(state__in=(ReportState.NEW, ReportState.RUNNING,
                                                           ReportState.COMPARED)).values_list('site', flat=True))
    made = []
    for site in sites:
        if site in busy or site not in inventory.sites:
            continue
        report = report_request(site=site, dry_run=bool(params.get('dry_run')),
                                safety_days=params.get('safety_days'), threshold=params.get('threshold'))
        made.append(report.id)
    if made and fileops_conf().workers == 'celery':
        services.workers_wake(task='fileops.consistency_check', args_list=[(report_id,) for report_id in made])
    return {'message': f'{len(made)} consistency checks requested' + (f': {", ".join(sites)}' if made else ''),
            'reports': made}
