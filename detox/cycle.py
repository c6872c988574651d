"""A Detox cycle: a policy over a RAM image -> a Plan (decisions, deletions, hand-overs).

The algorithm is the original's (§7.4): the first matching line decides, block-level lines strip
what they match, deletion goes one site at a time (highest protected fraction first, ties by site
name), at most `deletion_per_iteration` of the quota per iteration, Until re-checked after every
replica. Unlike the original it re-evaluates only the replicas a deletion can change (their
dataset's copies), never the whole policy. It only reads the inventory; it never changes it.
"""
from __future__ import annotations

import heapq
import time
from typing import Dict, List, Optional, Tuple

from inventory.objects import OwnershipLevel
from policy import ReplicaSubject, parse_now

from .image import (CycleScope, ReplicaState, SiteState, build, dataset_level_owner, occupancy,
                    with_owner)
from .plan import Decision, Deletion, Explanation, HandOver, LineTrace, Plan, SiteSummary
from .policyfile import Policy

DEFAULT = -1               # line index of the default decision
MAX_ITERATIONS = 1_000_000


def run(inventory, policy: Policy, *, now=None, max_cycle_fraction: float = 0.1, force: bool = False,
        deletion_per_iteration: float = 0.01) -> Plan:
    """Run `policy` over `inventory` (read only) and return the plan.

    `now` (UNIX seconds, ISO text or datetime; default the policy's) only labels the plan: the
    policy's relative times were fixed when it was parsed. A plan deleting more than
    `max_cycle_fraction` of the partition's bytes at the target sites is `stopped` (with the
    reason) unless `force`.
    """
    cycle = _Cycle(inventory, policy, policy.now if now is None else parse_now(now), deletion_per_iteration)
    cycle.run()
    return cycle.plan(max_cycle_fraction, force)


def explain(inventory, policy: Policy, site: str, dataset: str, *, now=None,
            deletion_per_iteration: float = 0.01) -> Explanation:
    """Which line decided for the replica of `dataset` at `site`, and the value of every
    variable read by that line and the lines above it, in the replica's last evaluation."""
    cycle = _Cycle(inventory, policy, policy.now if now is None else parse_now(now), deletion_per_iteration,
                   trace=(site, dataset))
    if site not in {ss.name for ss in cycle.sites}:
        reason = 'the site is not a target of the policy (no On line matches it)' \
            if site in inventory.sites else 'no such site'
        return Explanation(site, dataset, False, reason)
    ds = next((d for d in cycle.datasets.values() if d.dataset.name == dataset), None)
    if ds is None or not any(s.site_state.name == site for s in ds.states):
        return Explanation(site, dataset, False, f'no block replica of the dataset at the site is in partition '
                                                 f'{policy.partition}')
    cycle.run()
    plan = cycle.plan(1.0, True)
    rows = [d for d in plan.decisions if d.site == site and d.dataset == dataset]
    return Explanation(site, dataset, True, '', rows, cycle.traced, cycle.traced_iteration)


class _Cycle:
    def __init__(self, inventory, policy: Policy, now: float, per_iteration: float, trace=None):
        t0 = time.perf_counter()
        self.inventory = inventory
        self.policy = policy
        self.now = now
        self.per_iteration = per_iteration
        self.partition = inventory.partitions.get(policy.partition)
        if self.partition is None:
            raise ValueError(f'the policy names partition {policy.partition!r}, which the inventory does not have')
        if policy.unprovided:
            raise ValueError(f'the policy reads {", ".join(policy.unprovided)}, which no attribute provider '
                             f'supplies')
        self.sites: List[SiteState] = []
        for site in sorted(inventory.sites.values(), key=lambda s: s.name):
            sp = site.partitions[self.partition]
            if any(c.match(sp) for c in policy.on):
                self.sites.append(SiteState(site, sp))
        self.datasets, latest = build(inventory, self.partition, self.sites)
        self.scope = CycleScope(inventory, self.datasets, latest)
        policy.providers.begin(self.scope, now)
        for ss in self.sites:
            ss.triggered = ss.was_triggered = any(c.match(ss) for c in policy.when)
        self.lines = policy.lines
        self.uses_image = policy.uses_image
        self.matched = [False] * len(self.lines)
        self.line_evaluations = 0
        self.replica_evaluations = 0
        self.iterations = 0
        self.seq = 0
        self.pending: Dict[int, ReplicaState] = {}
        self.fresh: List[ReplicaState] = []
        self.trace = trace
        self.traced: List[LineTrace] = []
        self.traced_iteration = 0
        self.timings = {'image': time.perf_counter() - t0, 'evaluate': 0.}

    # ------------------------------------------------------------------ the loop
    def run(self) -> None:
        t0 = time.perf_counter()
        static = self.policy.static
        while True:
            self.iterations += 1
            if self.iterations > MAX_ITERATIONS:
                raise RuntimeError('Detox did not converge (a bug: every iteration must change the image)')
            if self.iterations == 1:
                order = [rs for ds in self.datasets.values() for rs in ds.states]
            else:
                # what the last iteration changed, and nothing else, can evaluate differently now
                order = self.take_pending()
            te = time.perf_counter()
            for rs in order:
                if rs.alive and not rs.dropped:
                    self.evaluate(rs)
            self.push_candidates()
            self.timings['evaluate'] += time.perf_counter() - te
            if self.iterations == 1:
                self.timings['first_pass'] = time.perf_counter() - te
            if static:
                if not self.delete_static():
                    break
            else:
                candidates = [ss for ss in self.sites if ss.triggered and self.peek(ss) is not None]
                if not candidates:
                    break
                # highest protected fraction first; ties by site name (the original: by address)
                selected = min(candidates, key=lambda ss: (-ss.protected_fraction(), ss.name))
                self.delete_iteration(selected)
        self.timings['iterations'] = time.perf_counter() - t0

    def take_pending(self) -> List[ReplicaState]:
        pending = self.pending
        self.pending = {}
        return sorted(pending.values(), key=lambda rs: (rs.dataset_state.dataset.name, rs.site_state.name))

    def touched(self, rs: ReplicaState) -> None:
        """rs changed: it, and its dataset's other replicas if the policy reads copies, need a new look."""
        if self.uses_image:
            for other in rs.dataset_state.states:
                if other.alive and not other.dropped:
                    self.pending[id(other)] = other
        elif rs.alive and not rs.dropped:
            self.pending[id(rs)] = rs

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, rs: ReplicaState) -> None:
        if self.trace is not None and (rs.site_state.name, rs.dataset_state.dataset.name) == self.trace:
            self.trace_evaluation(rs)
        subject = ReplicaSubject(rs.replica, rs.brs, self.scope, rs)
        remaining = rs.brs
        segments = []
        evaluations = 0
        matched = self.matched
        for index, line in enumerate(self.lines):
            evaluations += 1
            condition = line.condition
            if line.block_level:
                covered = condition.matching_blocks(subject)
                if not covered:
                    continue
                matched[index] = True
                if len(covered) == len(remaining):    # every block: the line acts at dataset level
                    segments.append((line.action, index, remaining, True))
                    remaining = None
                    break
                segments.append((line.action, index, covered, False))
                taken = set(covered)
                remaining = [br for br in remaining if br not in taken]
                subject.block_replicas = remaining
            elif condition.match(subject):
                matched[index] = True
                segments.append((line.action, index, remaining, True))
                remaining = None
                break
        if remaining:
            segments.append((self.policy.default.action, DEFAULT, remaining, True))
        self.line_evaluations += evaluations
        self.replica_evaluations += 1
        self.apply(rs, segments)

    def apply(self, rs: ReplicaState, segments) -> None:
        kept = []
        protected = 0
        carried = []
        start = rs.brs
        total = _size(rs, start)
        taken = 0                          # bytes of the block-level segments so far
        for action, index, brs, dataset_level in segments:
            if dataset_level and carried:
                # block replicas a block-level delete handed over (and the partition kept) take the
                # dataset-level decision, as in the original
                extra = set(carried) | set(brs)
                brs = [br for br in rs.brs if br in extra]
            if not dataset_level:
                size = _sum(brs)
                taken += size
            elif rs.brs is start and not carried:
                size = total - taken       # what the block-level lines left: no walk of a big replica
            else:
                size = _size(rs, brs)
            if action == 'delete':
                self.remove(rs, [(br, index) for br in brs])
                if not dataset_level:
                    carried += [br for br in brs if rs.contains(br)]   # handed over, still in the partition
                continue
            kept.append((action, index, brs, dataset_level, size))
            if action == 'protect':
                protected += size
            if dataset_level and action in ('protect', 'ignore'):
                rs.dropped = True
        rs.segments = tuple(kept)
        ss = rs.site_state
        ss.protected_bytes += protected - rs.protected_bytes
        rs.protected_bytes = protected
        self.seq += 1
        rs.seq = self.seq
        if rs.dropped:
            rs.candidate_iteration = self.iterations
        if rs.alive and ss.triggered and any(s[0] == 'dismiss' for s in kept):
            self.fresh.append(rs)

    def push_candidates(self) -> None:
        """Order keys of this pass's candidates, read once the pass is over (as the original sorted
        after evaluating everything: a later replica's Delete may change a key)."""
        sort_key = self.policy.sort_key
        scope = self.scope
        for rs in self.fresh:
            if rs.alive:
                rs.key = sort_key(ReplicaSubject(rs.replica, rs.brs, scope, rs))
                heapq.heappush(rs.site_state.heap, (rs.key, rs.dataset_state.dataset.name, rs.seq, rs))
        self.fresh = []

    # ------------------------------------------------------------------ deletion
    def remove(self, rs: ReplicaState, items: List[Tuple[object, int]]) -> int:
        """Take block replicas out of the image: deleted (null group at commit) or, inside a
        dataset-owned replica, handed over to the dataset-level owner. Returns the bytes deleted."""
        current = rs.brs
        owner = self.scope.owner
        handed = []
        if len(items) == len(current):
            deleted = items
        else:
            dr_owner = dataset_level_owner(current, owner)
            if dr_owner is None:
                deleted = items
            else:
                deleted = [(br, i) for br, i in items if owner(br).olevel == OwnershipLevel.DATASET]
                handed = [(br, i) for br, i in items if owner(br).olevel != OwnershipLevel.DATASET]
        removed = set()
        deleted_bytes = 0
        if deleted:
            if rs.deleted is None:
                rs.deleted = {}
            for br, i in deleted:
                rs.deleted[br] = i
                removed.add(br)
                deleted_bytes += br.size
                if rs.handed and br in rs.handed:
                    # handed over earlier, deleted now: the deletion wins (the original committed both)
                    del rs.handed[br]
                    self.scope.overrides.pop(br, None)
        for br, i in handed:
            if rs.handed is None:
                rs.handed = {}
            rs.handed[br] = (dr_owner, i)
            self.scope.overrides[br] = dr_owner
            if not self.partition.contains(with_owner(br, dr_owner)):
                removed.add(br)
        if removed:
            rs.brs = [br for br in current if br not in removed]
            rs.live_set = set(rs.brs)
            rs.site_state.usage_bytes -= sum(br.size for br in removed)
            if not rs.brs:
                rs.alive = False
        rs.changed()
        self.seq += 1
        rs.seq = self.seq
        self.touched(rs)
        return deleted_bytes

    def peek(self, ss: SiteState):
        heap = ss.heap
        iteration = self.iterations
        while heap:
            _, _, seq, rs = heap[0]
            if rs.seq == seq and rs.alive and (not rs.dropped or rs.candidate_iteration == iteration):
                return heap[0]
            heapq.heappop(heap)
        return None

    def until(self, ss: SiteState) -> bool:
        return any(c.match(ss) for c in self.policy.until)

    def dismissed(self, rs: ReplicaState):
        return [(br, index) for action, index, brs, _, _ in rs.segments if action == 'dismiss' for br in brs]

    def delete_one(self, rs: ReplicaState) -> int:
        size = self.remove(rs, self.dismissed(rs))
        live = rs.live_set
        segments = []
        for a, i, brs, d, bytes_ in rs.segments:
            if a != 'dismiss':
                if live is not None:
                    brs = [b for b in brs if b in live]
                    bytes_ = _sum(brs)
                segments.append((a, i, brs, d, bytes_))
        rs.segments = tuple(segments)
        return size

    def stop_if_until(self, ss: SiteState) -> bool:
        if self.until(ss):
            ss.triggered = False
            ss.until_reached = True
            return True
        return False

    def delete_iteration(self, ss: SiteState) -> None:
        quota = ss.quota
        deleted_volume = 0
        # (checked before the first deletion too: a site already below Until loses nothing)
        if self.stop_if_until(ss):
            return
        while True:
            entry = self.peek(ss)
            if entry is None:
                return
            if quota > 0 and deleted_volume / quota > self.per_iteration:
                return
            heapq.heappop(ss.heap)
            deleted_volume += self.delete_one(entry[3])
            if self.stop_if_until(ss):
                return

    def delete_static(self) -> bool:
        entries = []
        for ss in self.sites:
            if not ss.triggered:
                continue
            while self.peek(ss) is not None:
                key, name, _, rs = heapq.heappop(ss.heap)
                entries.append((key, name, ss.name, rs))
        if not entries:
            return False
        entries.sort(key=lambda e: e[:3])
        for _, _, _, rs in entries:
            ss = rs.site_state
            if not ss.triggered or self.stop_if_until(ss):
                continue
            self.delete_one(rs)
            self.stop_if_until(ss)
        return True

    # ------------------------------------------------------------------ explanation
    def trace_evaluation(self, rs: ReplicaState) -> None:
        subject = ReplicaSubject(rs.replica, rs.brs, self.scope, rs)
        remaining = rs.brs
        traces = []
        for line in self.lines:
            condition = line.condition
            values = tuple((v.name, v.value(subject)) for v in condition.variables)
            if line.block_level:
                covered = condition.matching_blocks(subject)
                traces.append(LineTrace(line.number, line.text, line.action, True, bool(covered),
                                        tuple(sorted(br.block.name for br in covered)), values))
                if not covered:
                    continue
                if len(covered) == len(remaining):
                    break
                taken = set(covered)
                remaining = [br for br in remaining if br not in taken]
                subject.block_replicas = remaining
            else:
                hit = bool(condition.match(subject))
                traces.append(LineTrace(line.number, line.text, line.action, False, hit, None, values))
                if hit:
                    break
        else:
            default = self.policy.default
            traces.append(LineTrace(default.number, default.text, default.action, False, True, None, ()))
        self.traced = traces
        self.traced_iteration = self.iterations

    # ------------------------------------------------------------------ the plan
    def plan(self, max_cycle_fraction: float, force: bool) -> Plan:
        t0 = time.perf_counter()
        policy = self.policy
        number = {i: line for i, line in enumerate(self.lines)}
        number[DEFAULT] = policy.default
        decisions, deletions, handovers = [], [], []
        per_site = {ss.name: {'protect': 0, 'keep': 0, 'delete': 0, 'handed': 0} for ss in self.sites}
        for ds in self.datasets.values():
            for rs in ds.states:
                self.rows_of(rs, number, decisions, deletions, handovers, per_site[rs.site_state.name])
        decisions.sort(key=lambda d: (d.site, d.dataset, d.line, d.decision, d.blocks or ()))
        deletions.sort(key=lambda d: (d.site, d.dataset))
        handovers.sort(key=lambda h: (h.site, h.dataset, h.block))
        sites = [SiteSummary(ss.name, ss.quota, occupancy(ss.usage_before, ss.quota),
                             occupancy(ss.usage_bytes, ss.quota), per_site[ss.name]['protect'],
                             per_site[ss.name]['keep'], per_site[ss.name]['delete'], per_site[ss.name]['handed'],
                             ss.was_triggered, ss.until_reached, ss.usage_before, ss.usage_bytes)
                 for ss in self.sites]
        warnings = list(policy.warnings)
        warnings += [f'{policy.filename}:{line.number}: {line.text!r} never matched'
                     for line, hit in zip(self.lines, self.matched) if not hit]
        used = sum(ss.usage_before for ss in self.sites)
        deleted = sum(d.size for d in deletions)
        stopped, reason = False, None
        if used and deleted > max_cycle_fraction * used:
            text = (f'the cycle would delete {deleted} B of the {used} B of partition {policy.partition} at its '
                    f'target sites ({deleted / used:.1%}), more than max_cycle_fraction ({max_cycle_fraction:.1%})')
            if force:
                warnings.append(text + '; committed anyway (force)')
            else:
                stopped, reason = True, text + '; nothing is committed (force to commit anyway)'
        self.timings['plan'] = time.perf_counter() - t0
        return Plan(policy.partition, policy.version, self.now, sites, decisions, deletions, handovers,
                    self.iterations, self.replica_evaluations, self.line_evaluations, dict(self.timings), warnings,
                    used, deleted, stopped, reason)

    def rows_of(self, rs: ReplicaState, number, decisions, deletions, handovers, totals) -> None:
        site, dataset = rs.site_state.name, rs.dataset_state.dataset.name
        groups: Dict[Tuple[str, int], list] = {}     # (decision, line index) -> [block replicas, bytes]

        def add(key, brs, size):
            group = groups.get(key)
            if group is None:
                groups[key] = [list(brs), size]
            else:
                group[0].extend(brs)
                group[1] += size
        for br, index in (rs.deleted or {}).items():
            add(('delete', index), (br,), br.size)
        live = rs.contains if rs.alive else (lambda br: False)
        for br, (group, index) in (rs.handed or {}).items():
            handovers.append(HandOver(site, dataset, br.block.name, group.name))
            totals['handed'] += br.size
            if not live(br):    # left the partition with its new owner: kept at the site
                add(('keep', index), (br,), br.size)
        counted = 0
        for action, index, brs, _, size in rs.segments:
            if rs.live_set is not None:
                kept = [br for br in brs if live(br)]
                if len(kept) != len(brs):
                    brs, size = kept, _sum(kept)
            if brs:
                add(('protect' if action == 'protect' else 'keep', index), brs, size)
                counted += len(brs)
        if rs.handed and counted < len(rs.brs):
            covered = {br for _, _, brs, _, _ in rs.segments for br in brs}
            for br in rs.brs:
                if br not in covered and br in rs.handed:
                    # handed over by a replica decided for good before: it stays, kept by its new owner
                    add(('keep', rs.handed[br][1]), (br,), br.size)
        every = rs.initial if rs.placeholder else rs.replica.block_replicas
        for (decision, index), (brs, size) in groups.items():
            line = number[index]
            totals[decision] += size
            decisions.append(Decision(site, dataset, decision, _blocks(brs, every), size, line.number, line.text))
        if rs.deleted:
            brs = list(rs.deleted)
            deletions.append(Deletion(site, dataset, _blocks(brs, every), _size(rs, brs)))


def _size(rs: ReplicaState, brs) -> int:
    if not rs.placeholder and len(brs) == len(rs.replica.block_replicas):
        return rs.replica.size()       # all of them (distinct): the total the inventory keeps
    return _sum(brs)


def _sum(brs) -> int:
    total = 0
    for br in brs:
        size = br._st[2]               # (None: complete, the block's size)
        total += br._block.size if size is None else size
    return total


def _blocks(brs, every) -> Optional[Tuple[str, ...]]:
    # brs are distinct block replicas of the replica: as many as it has means all of them
    if len(brs) == len(every):
        return None
    return tuple(sorted(br.block.name for br in brs))

