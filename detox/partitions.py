"""Partition definitions and quotas (§1.4): what loading a partitions file or setting a quota
changes, as operations of the write path, and how a command hands them to it (the live primary's
write queue, or, with no server running, applied here the same way).

The arithmetic is pure (a `State` in, operations out); reading the state is the two functions at
the top. Nothing here changes the inventory except through `submit` (the write path).
"""
from __future__ import annotations

import fnmatch
import json
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from inventory.objects import OWNED, Condition, Partition, SitePartition, to_dict

_NO_PREDICATE = None   # operations carry a condition's text only; the write path compiles it


@dataclass
class State:
    """The partitions and quotas an inventory has."""
    partitions: Dict[str, Tuple[Optional[str], Optional[Tuple[str, ...]]]]   # name -> (condition text, subs)
    quotas: Dict[Tuple[str, str], int] = field(default_factory=dict)         # (site, plain partition) -> bytes
    sites: List[str] = field(default_factory=list)

    def is_super(self, name: str) -> bool:
        return self.partitions[name][1] is not None

    def leaves(self, name: str) -> List[str]:
        """The plain partitions under `name` (itself when it is plain), in definition order."""
        subs = self.partitions[name][1]
        if subs is None:
            return [name]
        out: List[str] = []
        for sub in subs:
            out += [leaf for leaf in self.leaves(sub) if leaf not in out]
        return out

    def quota(self, site: str, name: str) -> int:
        """As SitePartition.quota: a superpartition's is the sum of its subpartitions' (unlimited
        if one of them is)."""
        subs = self.partitions[name][1]
        if subs is None:
            return self.quotas.get((site, name), 0)
        total = 0
        for sub in subs:
            q = self.quota(site, sub)
            if q < 0:
                return -1
            total += q
        return total


def state_from_database(using: str = 'default') -> State:
    """The store's partitions and quotas (the primary persists every change set it applies)."""
    from inventory import models as m
    partitions = {}
    for name, text, subs in m.Partition.objects.using(using).order_by('id').values_list(
            'name', 'condition', 'subpartitions'):
        partitions[name] = (None, tuple(subs.split(','))) if subs else (text or None, None)
    names = dict(m.Site.objects.using(using).values_list('id', 'name'))
    parts = dict(m.Partition.objects.using(using).values_list('id', 'name'))
    if 'Default' not in partitions:     # no row: the implicit Default every inventory has (store.load)
        pid = 1 if 1 not in parts else max(parts) + 1
        partitions = dict({'Default': (OWNED.text, None)}, **partitions)
        parts[pid] = 'Default'
    quotas = {}
    for site_id, partition_id, quota in m.Quota.objects.using(using).values_list('site_id', 'partition_id', 'quota'):
        if site_id in names and partition_id in parts and quota:
            quotas[names[site_id], parts[partition_id]] = quota
    return State(partitions, quotas, sorted(names.values()))


def state_from_inventory(inventory) -> State:
    partitions = {name: ((None, tuple(s.name for s in p.subpartitions)) if p.subpartitions else
                         (p.condition.text if p.condition is not None else None, None))
                  for name, p in inventory.partitions.items()}
    quotas = {(site.name, p.name): sp._quota for site in inventory.sites.values()
              for p, sp in site.partitions.items() if not p.is_superpartition and sp._quota}
    return State(partitions, quotas, sorted(inventory.sites))


# ------------------------------------------------------------------------------------- partitions
@dataclass
class PartitionChanges:
    operations: list
    added: List[str]
    changed: List[str]
    rebuilt: List[str]        # superpartitions made again because a subpartition changed
    removed: List[str]
    unchanged: List[str]
    kept: List[str]           # in the inventory, not in the file, left alone (no prune)
    quotas_kept: int          # quotas carried over to partitions made again

    def report(self) -> List[str]:
        lines = []
        for label, names in (('added', self.added), ('changed', self.changed), ('rebuilt', self.rebuilt),
                             ('removed', self.removed), ('unchanged', self.unchanged)):
            if names:
                lines.append(f'{label}: {", ".join(names)}')
        if self.kept:
            lines.append(f'not in the file, kept: {", ".join(self.kept)}'
                         + ('' if self.kept == ['Default'] else ' (--prune removes them; never Default)'))
        if self.quotas_kept:
            lines.append(f'{self.quotas_kept} quotas carried over to the partitions made again')
        return lines


def partition_operations(state: State, definitions, *, prune: bool = False) -> PartitionChanges:
    """The operations making the inventory's partitions those of `definitions` (from
    policy.parse_partitions, subpartitions first). A partition whose definition changed is
    deleted and made again in the same change set (memberships are recomputed then) and keeps
    its quotas; so is every superpartition above it. Partitions missing from the file are
    removed only with `prune` (never Default: every inventory has it)."""
    wanted = {d.name: (d.text if d.subpartitions is None else None, d.subpartitions) for d in definitions}
    current = state.partitions
    added = [d.name for d in definitions if d.name not in current]
    changed = [d.name for d in definitions if d.name in current and current[d.name] != wanted[d.name]]
    removed = [n for n in current if n not in wanted and n != 'Default'] if prune else []
    kept = [n for n in current if n not in wanted and (not prune or n == 'Default')]
    gone = set(changed) | set(removed)
    # superpartitions (as they are now) over something that goes must go with it
    while True:
        more = {n for n, (_, subs) in current.items() if subs and n not in gone and gone & set(subs)}
        if not more:
            break
        gone |= more
    rebuilt = sorted(n for n in gone if n not in changed and n not in removed)
    # the definitions after the change: the file's, and the current ones of what the file leaves alone
    final = {n: current[n] for n in current if n not in wanted and n not in removed}
    final.update(wanted)
    for name, (_, subs) in final.items():
        missing = [s for s in subs or () if s not in final]
        if missing:
            raise ValueError(f'superpartition {name} names {", ".join(missing)}, which would not exist any more')

    ops = []
    for name in _supers_first([n for n in current if n in gone], current):
        ops.append(['d', to_dict(Partition(name))])
    make = [n for n in _subs_first(list(final), final) if n in gone or n in added]
    quotas_kept = 0
    for name in make:
        text, subs = final[name]
        condition = Condition(text, _NO_PREDICATE) if text is not None else None
        ops.append(['u', to_dict(Partition(name, condition, list(subs) if subs else None))])
        if subs is None and name in current:
            for (site, partition), quota in sorted(state.quotas.items()):
                if partition == name and quota:
                    ops.append(['u', to_dict(SitePartition(site, name, quota))])
                    quotas_kept += 1
    unchanged = [d.name for d in definitions if d.name not in added and d.name not in gone]
    return PartitionChanges(ops, added, changed, rebuilt, removed, unchanged, kept, quotas_kept)


def _subs_first(names, definitions):
    order, seen = [], set()

    def place(name):
        if name in seen:
            return
        seen.add(name)
        for sub in definitions[name][1] or ():
            if sub in definitions:
                place(sub)
        order.append(name)
    for name in names:
        place(name)
    return order


def _supers_first(names, definitions):
    inside = set(names)
    return [n for n in reversed(_subs_first(names, definitions)) if n in inside]


# ------------------------------------------------------------------------------------- quotas
@dataclass(frozen=True)
class QuotaChange:
    site: str
    partition: str            # a plain partition (a superpartition's quota is its subpartitions')
    old: int
    new: int


def matching_sites(state: State, patterns: str) -> List[str]:
    """Sites matching any of the comma-separated shell patterns."""
    wanted = [p.strip() for p in patterns.split(',') if p.strip()]
    return [s for s in state.sites if any(fnmatch.fnmatchcase(s, p) for p in wanted)]


def quota_changes(state: State, *, sites: Sequence[str], partition: str, volume: Optional[float] = None,
                  scale: Optional[float] = None) -> List[QuotaChange]:
    """The quotas to set so that `partition` gets `volume` bytes at each site (0: nothing
    allowed, negative: unlimited), or its quota times `scale`. For a superpartition the
    subpartitions change in proportion to their quotas now (equal parts if they are all 0);
    an unlimited one cannot be scaled to a volume. Raises ValueError."""
    if partition not in state.partitions:
        raise ValueError(f'no partition {partition!r} (known: {", ".join(state.partitions)})')
    if (volume is None) == (scale is None):
        raise ValueError('give a volume or a scale factor')
    for name, value in (('volume', volume), ('scale factor', scale)):
        if value is not None and not math.isfinite(value):
            raise ValueError(f'the {name} must be a finite number, not {value}')
    if scale is not None and scale < 0:
        raise ValueError(f'a scale factor cannot be negative ({scale})')
    leaves = state.leaves(partition)
    changes = []
    for site in sites:
        old = {leaf: state.quotas.get((site, leaf), 0) for leaf in leaves}
        if scale is not None:
            new = {leaf: q if q < 0 else int(round(q * scale)) for leaf, q in old.items()}
        elif len(leaves) == 1 or volume <= 0:
            new = dict.fromkeys(leaves, -1 if volume < 0 else int(round(volume)))
        else:
            new = _split(site, partition, old, int(round(volume)))
        changes += [QuotaChange(site, leaf, old[leaf], new[leaf]) for leaf in leaves if new[leaf] != old[leaf]]
    return changes


def _split(site, partition, old, volume):
    if any(q < 0 for q in old.values()):
        unlimited = ', '.join(leaf for leaf, q in old.items() if q < 0)
        raise ValueError(f'{partition} at {site}: {unlimited} has no limit, so the volume cannot be shared in '
                         f'proportion; set the subpartitions one by one')
    total = sum(old.values())
    leaves = list(old)
    weights = [old[leaf] if total else 1 for leaf in leaves]
    weight_sum = sum(weights)
    new = {}
    given = 0
    for leaf, weight in zip(leaves[:-1], weights[:-1]):
        new[leaf] = volume * weight // weight_sum
        given += new[leaf]
    new[leaves[-1]] = volume - given         # the sum is exactly the volume
    return new


def quota_operations(changes: Sequence[QuotaChange]) -> list:
    return [['u', to_dict(SitePartition(c.site, c.partition, c.new))] for c in changes]


def apply_quota_changes(inventory, changes: Sequence[QuotaChange]) -> int:
    """Set the quotas on a live image inside a change set (a web write)."""
    for c in changes:
        inventory.update(SitePartition(c.site, c.partition, c.new))
    return len(changes)


# ------------------------------------------------------------------------------------- submitting
@dataclass
class Outcome:
    ok: bool
    message: str
    seq: int = 0
    num_changes: int = 0


def submit(operations: list, *, origin: str, timeout: float = 600) -> Outcome:
    """Apply `operations` ([op, object dict]) as one change set: queued for the live primary
    (which applies it through its write path), or, with no server running, applied here."""
    from execution.models import RequestState
    from execution.selectors import live_servers
    from execution.services import requests
    from execution.topology import TOPOLOGY
    from inventory import services, store
    from inventory.objects import ObjectError
    if not operations:
        return Outcome(True, 'nothing to change')
    TOPOLOGY.resolve_primary()
    servers = [s for s in live_servers() if s.role == 'primary']
    if not servers and TOPOLOGY.is_secondary:
        return Outcome(False, f'no primary server is running in the cluster ({TOPOLOGY.describe_primary()})')
    if servers:
        request = requests.request_submit(kind='changes', origin=origin,
                                          payload=json.dumps(operations, separators=(',', ':')))
        request = requests.request_wait(request_id=request.id, timeout=timeout)
        if request.state == RequestState.APPLIED:
            result = json.loads(request.result or '{}')
            return Outcome(True, request.message, request.seq or 0, result.get('num_changes', 0))
        if request.state == RequestState.FAILED:
            return Outcome(False, request.message)
        return Outcome(False, f'request {request.id} still {request.state} after {timeout} s (it stays queued)')
    inventory, seq = store.load()
    inventory.seq = seq
    try:
        applied = services.apply_changeset(inventory=inventory, origin=origin, operations=operations)
    except ObjectError as exc:
        return Outcome(False, str(exc))
    return Outcome(True, f'applied as change set {applied.seq}', applied.seq, applied.num_changes)


def origin(command: str) -> str:
    import getpass
    import socket
    return f'{command}:{getpass.getuser()}@{socket.gethostname()}'
