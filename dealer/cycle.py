"""A Dealer cycle: the plugins' proposals over a RAM image -> a Plan (placements and decisions).

Deterministic and explained (the original drew plugins and destinations at random, §12 item 19):
the plugins' lists are merged by a smooth weighted round robin (weight 1/priority; ties by
plugin name); each proposal's destination is the best of the candidate sites that pass every
filter (a target site, the item not there yet, room after the copy, the pending limit), scored by
the part of the item already there, then the free fraction after the copy, then a hash of
(seed, dataset, site), then the name. Every proposal gets a decision with a reason code and the
number of candidate sites rejected for each reason. It only reads the inventory.
"""
import time
import zlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from inventory.objects import DatasetStatus, SiteStatus
from policy import parse_now

# reason codes: of a proposal
PLACED = 'placed'                    # accepted: a new (or grown) replica with transfers
REGROUPED = 'regrouped'              # accepted: only the owner of replicas already there changes
UNKNOWN_ITEM = 'unknown_item'
UNKNOWN_GROUP = 'unknown_group'
DATASET_STATUS = 'dataset_status'
NO_SOURCE = 'no_source'
CYCLE_VOLUME = 'cycle_volume'
NO_DESTINATION = 'no_destination'    # every candidate site was rejected, for different reasons
# ... and of a candidate site (a proposal with one candidate, or all rejected for one reason, takes it)
UNKNOWN_SITE = 'unknown_site'
NOT_TARGET = 'not_target'
PRESENT = 'present'
NO_ROOM = 'no_room'
PENDING_LIMIT = 'pending_limit'

REASONS = {
    PLACED: 'copied to the site (a new or grown replica, one transfer per new block replica)',
    REGROUPED: 'the site holds it already: only its owner group changes',
    UNKNOWN_ITEM: 'the dataset or block is not in the inventory',
    UNKNOWN_GROUP: 'the owner group is not in the inventory',
    DATASET_STATUS: 'the dataset is neither valid nor in production',
    NO_SOURCE: 'some block has no complete replica anywhere to copy from',
    CYCLE_VOLUME: 'the cycle has placed its maximum volume (max_cycle_volume)',
    NO_DESTINATION: 'no candidate site passed the filters (see the counts per reason)',
    UNKNOWN_SITE: 'the site is not in the inventory',
    NOT_TARGET: 'not a target site (not READY, not among target_sites, or no quota)',
    PRESENT: 'the site holds it already with this owner (or it was placed there in this cycle)',
    NO_ROOM: 'the projected occupancy after the copy would exceed target_occupancy',
    PENDING_LIMIT: 'the pending volume after the copy would exceed max_pending_fraction of the quota',
}
ALLOWED_STATUSES = (DatasetStatus.PRODUCTION, DatasetStatus.VALID)


class SiteState:
    """A site as the cycle sees it: quota and usage of the partition, bytes placed so far."""
    __slots__ = ('name', 'site', 'sp', 'quota', 'physical', 'projected', 'added', 'target', 'why_not', 'placements',
                 'unlimited')

    def __init__(self, site, quota, physical, projected, sp=None):
        self.name = site.name
        self.site = site
        self.sp = sp                 # the site partition of the policy's partition (None: the site has none)
        self.quota = quota
        self.physical = physical
        self.projected = projected
        self.added = 0
        self.target = False
        self.why_not = ''
        self.placements = 0
        self.unlimited = quota < 0

    def occupancy(self, extra=0):
        if self.quota == 0:
            return None
        if self.quota < 0:
            return 0.0
        return (self.projected + self.added + extra) / self.quota

    def physical_occupancy(self):
        if self.quota <= 0:
            return None if self.quota == 0 else 0.0
        return self.physical / self.quota

    def pending_fraction(self):
        if self.quota <= 0:
            return None if self.quota == 0 else 0.0
        return (self.projected - self.physical + self.added) / self.quota

    def summary(self):
        return {'site': self.name, 'target': self.target, 'why_not': self.why_not, 'quota': self.quota,
                'physical': self.physical, 'projected': self.projected, 'added': self.added,
                'placements': self.placements, 'occupancy_physical': self.physical_occupancy(),
                'occupancy_projected_before': self.occupancy(-self.added),
                'occupancy_projected_after': self.occupancy(), 'pending_after': self.pending_fraction()}


class CycleView:
    """What plugins see: the image, the policy, the partition, the sites (SiteState by name),
    the target sites (sorted by name) and `now`."""

    def __init__(self, inventory, policy, now):
        self.inventory = inventory
        self.policy = policy
        self.now = now
        self.partition = inventory.partitions.get(policy.partition)
        self.sites: Dict[str, SiteState] = {}
        self.targets: List[SiteState] = []
        self._dataset_sizes = {}
        self._members = {}      # site -> its site partition's replicas (partition memberships)

    def is_target(self, site_name):
        st = self.sites.get(site_name)
        return st is not None and st.target

    def in_partition(self, block_replica):
        return self.partition is not None and self.partition.contains(block_replica)

    def replica_in_partition(self, replica):
        """Does some block replica of the dataset replica belong to the partition?"""
        members = self._members.get(replica._site)
        return members is not None and replica in members

    def dataset_size(self, dataset):
        size = self._dataset_sizes.get(dataset.name)
        if size is None:
            size = self._dataset_sizes[dataset.name] = dataset.size
        return size


@dataclass
class Outcome:
    accepted: bool
    reason: str
    site: str = ''
    detail: str = ''
    size: int = 0                                   # bytes to be transferred
    site_rejections: Dict[str, int] = field(default_factory=dict)
    new_blocks: Optional[Tuple[str, ...]] = None    # block replicas made (None with whole: every block)
    regroup: Tuple[str, ...] = ()                   # block replicas whose owner changes
    whole: bool = False


@dataclass
class Plan:
    seed: int
    now: float
    decisions: list = field(default_factory=list)    # [order, plugin, dataset, blocks, size, group, site,
    #                                                    decision, reason, detail, site_rejections, request_id, why]
    placements: list = field(default_factory=list)   # [site, dataset, new blocks|None, regroup, group, growing, plugin]
    plugins: dict = field(default_factory=dict)
    sites: list = field(default_factory=list)
    rejections: dict = field(default_factory=dict)
    site_rejections: dict = field(default_factory=dict)
    outcomes: dict = field(default_factory=dict)     # plugin name -> [(proposal, outcome)]
    num_proposals: int = 0
    num_accepted: int = 0
    volume: int = 0
    rows_dropped: int = 0
    timings: dict = field(default_factory=dict)
    commits: dict = field(default_factory=dict)      # plugin name -> data for its commit (postprocess)

    @property
    def proposals_per_second(self):
        seconds = self.timings.get('decide', 0)
        return self.num_proposals / seconds if seconds > 0 else None


def merge(lists):
    """[(plugin, proposals)] -> [(plugin, proposal)]: a smooth weighted round robin with weight
    1/priority (the original drew at random with these weights). A plugin of priority 0 excludes
    every plugin of non-zero priority; if all are 0 they weigh the same."""
    lists = [(plugin, list(proposals)) for plugin, proposals in lists]
    zero = [entry for entry in lists if entry[0].priority == 0]
    if zero and len(zero) < len(lists):
        lists = zero
    weights = [1.0 if plugin.priority == 0 else 1.0 / plugin.priority for plugin, _ in lists]
    positions = [0] * len(lists)
    current = [0.0] * len(lists)
    order = sorted(range(len(lists)), key=lambda i: lists[i][0].name)
    merged = []
    remaining = sum(len(p) for _, p in lists)
    while remaining:
        active = [i for i in order if positions[i] < len(lists[i][1])]
        total = sum(weights[i] for i in active)
        best = None
        for i in active:
            current[i] += weights[i]
            if best is None or current[i] > current[best] + 1e-12:
                best = i
        current[best] -= total
        plugin, proposals = lists[best]
        # a plugin alone (or the others done) empties its list at once
        if len(active) == 1:
            merged.extend((plugin, p) for p in proposals[positions[best]:])
            remaining -= len(proposals) - positions[best]
            positions[best] = len(proposals)
            continue
        merged.append((plugin, proposals[positions[best]]))
        positions[best] += 1
        remaining -= 1
    return merged


def _usage(sp):
    """(physical, projected) bytes of a site partition, in one pass (SitePartition.usage twice)."""
    physical = projected = 0
    for replica, members in sp.replicas.items():
        if members is None:
            physical += replica._bytes
            projected += replica._bytes_projected
        else:
            for br in members:
                physical += br.size
                projected += br._block.size
    return physical, projected


def build_view(inventory, policy, now):
    """The CycleView: every site with the partition's quota and usage; targets chosen."""
    view = CycleView(inventory, policy, now)
    matcher = policy.target_matcher(now=now)
    partition = view.partition
    unchecked = policy.target_occupancy >= 1 and policy.max_pending_fraction >= 1
    for name in sorted(inventory.sites):
        site = inventory.sites[name]
        sp = site.partitions.get(partition) if partition is not None else None
        if sp is None:
            st = SiteState(site, 0, 0, 0)
            st.why_not = f'no partition {policy.partition}'
            view.sites[name] = st
            continue
        physical, projected = _usage(sp)
        st = SiteState(site, sp.quota, physical, projected, sp)
        view._members[site] = sp.replicas
        view.sites[name] = st
        if site.status != SiteStatus.READY:
            st.why_not = f'status {site.status.label}'
        elif not matcher(sp):
            st.why_not = 'not among the target sites'
        elif st.quota == 0 and not unchecked:
            st.why_not = f'no quota for partition {policy.partition}'
        else:
            st.target = True
            view.targets.append(st)
    return view


class _Decider:
    def __init__(self, view, plan):
        self.view = view
        self.plan = plan
        self.inventory = view.inventory
        policy = view.policy
        self.policy = policy
        self.seed = policy.seed
        self.max_volume = policy.max_cycle_volume
        self.occupancy = policy.target_occupancy
        self.pending = policy.max_pending_fraction
        self.check_room = policy.target_occupancy < 1 or policy.max_pending_fraction < 1
        self.placed = {}          # (site name, dataset name) -> set of block names placed in this cycle
        self.placed_sites = {}    # dataset name -> the sites given some of it in this cycle
        self.sources = {}         # id(dataset) -> True when every block has a complete replica
        self.volume = 0

    def _has_source(self, dataset, blocks, whole):
        if whole:
            known = self.sources.get(id(dataset))
            if known is not None:
                return known
        ok = True
        for block in blocks:
            for br in block.replicas:
                if br._st[3] is None or br.is_complete():
                    break
            else:
                ok = False
                break
        if whole:
            self.sources[id(dataset)] = ok
        return ok

    def decide(self, proposal, group_name):
        inventory = self.inventory
        dataset = inventory.datasets.get(proposal.dataset)
        if dataset is None:
            return Outcome(False, UNKNOWN_ITEM, detail=f'unknown dataset {proposal.dataset}')
        if dataset.status not in ALLOWED_STATUSES:
            return Outcome(False, DATASET_STATUS, detail=f'status {dataset.status.label}')
        if group_name not in inventory.groups:
            return Outcome(False, UNKNOWN_GROUP, detail=f'unknown group {group_name}')
        whole = proposal.blocks is None
        if whole:
            blocks = dataset.blocks
            size = self.view.dataset_size(dataset)
        else:
            blocks = []
            for name in proposal.blocks:
                block = inventory.find_block(dataset, name)
                if block is None:
                    return Outcome(False, UNKNOWN_ITEM, detail=f'unknown block {dataset.name}#{name}')
                blocks.append(block)
            size = sum(b.size for b in blocks)
        if not blocks:
            return Outcome(False, UNKNOWN_ITEM, detail=f'{dataset.name} has no blocks')
        if not self._has_source(dataset, blocks, whole):
            return Outcome(False, NO_SOURCE, detail='some block has no complete replica')
        if self.volume >= self.max_volume:
            return Outcome(False, CYCLE_VOLUME, detail=f'{self.volume} bytes placed')
        view = self.view
        if proposal.sites is None:
            candidates = view.targets
            rejected = {}
        else:
            candidates = []
            rejected = {}
            for name in proposal.sites:
                st = view.sites.get(name)
                if st is None:
                    rejected[UNKNOWN_SITE] = rejected.get(UNKNOWN_SITE, 0) + 1
                elif not st.target:
                    rejected[NOT_TARGET] = rejected.get(NOT_TARGET, 0) + 1
                else:
                    candidates.append(st)
        ds_name = dataset.name
        placed = self.placed
        group = inventory.groups[group_name]
        # the sites holding some of it (or given some in this cycle): only there is more to look at
        present = {r._site.name for r in dataset.replicas}
        present.update(self.placed_sites.get(ds_name, ()))
        check_room, occupancy, pending = self.check_room, self.occupancy, self.pending
        n_present = n_room = n_pending = 0
        best = best_key = best_info = None
        for st in candidates:
            name = st.name
            if name in present:
                needed, missing, regroup = self._missing(st.site._dataset_replicas.get(ds_name),
                                                         placed.get((name, ds_name)), blocks, group)
                if not missing and not regroup:
                    n_present += 1
                    continue
                held = 1.0 - needed / size if size else 1.0
            else:
                needed, missing, regroup, held = size, None, (), 0.0
            quota = st.quota
            if check_room and quota > 0:
                total = st.projected + st.added + needed
                if total > occupancy * quota:
                    n_room += 1
                    continue
                if total - st.physical > pending * quota:
                    n_pending += 1
                    continue
                free = 1.0 - total / quota
            else:
                free = 1.0
            if best_key is not None:
                if held < best_key[0] or (held == best_key[0] and free < best_key[1]):
                    continue
                if held == best_key[0] and free == best_key[1] and \
                        self._tiebreak(ds_name, name) < self._tiebreak(ds_name, best.name):
                    continue      # a tie: the hash of (seed, dataset, site), then the name, decide (stably)
            best, best_key, best_info = st, (held, free), (needed, missing, regroup)
        for reason, count in ((PRESENT, n_present), (NO_ROOM, n_room), (PENDING_LIMIT, n_pending)):
            if count:
                rejected[reason] = count
        if best is None:
            reasons = sorted(rejected)
            reason = reasons[0] if len(reasons) == 1 else NO_DESTINATION
            site = proposal.sites[0] if proposal.sites is not None and len(proposal.sites) == 1 else ''
            detail = ', '.join(f'{r}: {rejected[r]}' for r in reasons) or 'no target site'
            return Outcome(False, reason, site=site, detail=detail, site_rejections=rejected)
        needed, missing, regroup = best_info
        if self.volume + needed > self.max_volume:
            return Outcome(False, CYCLE_VOLUME, site=best.name,
                           detail=f'{self.volume} bytes placed; {needed} more would exceed {self.max_volume}',
                           site_rejections=rejected)
        self.volume += needed
        best.added += needed
        best.placements += 1
        key = (best.name, ds_name)
        names = self.placed.get(key)
        if names is None:
            names = self.placed[key] = set()
            self.placed_sites.setdefault(ds_name, set()).add(best.name)
        names.update(b.name for b in blocks)
        new_blocks = None if missing is None else tuple(b.name for b in missing)
        reason = PLACED if missing is None or missing else REGROUPED
        return Outcome(True, reason, site=best.name, size=needed, site_rejections=rejected,
                       new_blocks=new_blocks, regroup=tuple(b.name for b in regroup), whole=whole,
                       detail=f'occupancy {best.occupancy(-needed):.4f} -> {best.occupancy():.4f}'
                       if best.quota > 0 else 'no quota limit')

    @staticmethod
    def _missing(replica, here, blocks, group):
        """(bytes needed, blocks with no replica at the site, blocks there with another owner)."""
        present = {}
        if replica is not None:
            for br in replica.block_replicas:
                present[br._block.name] = br
        missing, regroup, needed = [], [], 0
        for block in blocks:
            name = block.name
            if here is not None and name in here:
                continue
            br = present.get(name)
            if br is None:
                missing.append(block)
                needed += block.size
            elif br._st[0] is not group:
                regroup.append(block)
        return needed, missing, regroup

    def _tiebreak(self, dataset, site):
        return (zlib.crc32(f'{self.seed}:{dataset}:{site}'.encode()), site)


def run(inventory, policy, plugins, *, now=None):
    """Run one cycle of `plugins` (loaded, dealer.plugins.load_plugins) under `policy` over
    `inventory` (read only); returns the Plan."""
    timings = {}
    start = time.monotonic()
    now = parse_now(now)
    view = build_view(inventory, policy, now)
    timings['sites'] = time.monotonic() - start
    plan = Plan(seed=policy.seed, now=now)
    lists = []
    for plugin in plugins:
        t0 = time.monotonic()
        proposals = list(plugin.propose(view) or ())
        timings[f'propose.{plugin.name}'] = time.monotonic() - t0
        lists.append((plugin, proposals))
        plan.plugins[plugin.name] = {'priority': plugin.priority, 'proposals': len(proposals), 'accepted': 0,
                                     'rejected': 0, 'volume': 0, 'notes': list(getattr(plugin, 'notes', []))}
    t0 = time.monotonic()
    merged = merge(lists)
    timings['merge'] = time.monotonic() - t0
    t0 = time.monotonic()
    decider = _Decider(view, plan)
    outcomes = {plugin.name: [] for plugin in plugins}
    rows = plan.decisions
    max_rows = policy.max_decision_rows
    rejections, site_rejections = plan.rejections, plan.site_rejections
    default_group = policy.group
    for order, (plugin, proposal) in enumerate(merged):
        group = proposal.group or default_group
        outcome = decider.decide(proposal, group)
        outcomes[plugin.name].append((proposal, outcome))
        stats = plan.plugins[plugin.name]
        for reason, count in outcome.site_rejections.items():
            site_rejections[reason] = site_rejections.get(reason, 0) + count
        if outcome.accepted:
            stats['accepted'] += 1
            stats['volume'] += outcome.size
            plan.num_accepted += 1
            plan.volume += outcome.size
            plan.placements.append([outcome.site, proposal.dataset,
                                    None if outcome.new_blocks is None else list(outcome.new_blocks),
                                    list(outcome.regroup), group, outcome.whole, plugin.name])
        else:
            stats['rejected'] += 1
            rejections[outcome.reason] = rejections.get(outcome.reason, 0) + 1
        if len(rows) < max_rows:
            rows.append([order, plugin.name, proposal.dataset,
                         None if proposal.blocks is None else list(proposal.blocks), outcome.size, group,
                         outcome.site, 'accepted' if outcome.accepted else 'rejected', outcome.reason,
                         outcome.detail, outcome.site_rejections, proposal.request_id, proposal.reason])
        else:
            plan.rows_dropped += 1
    plan.num_proposals = len(merged)
    timings['decide'] = time.monotonic() - t0
    plan.outcomes = outcomes
    t0 = time.monotonic()
    for plugin in plugins:
        post = getattr(plugin, 'postprocess', None)
        data = post(view, outcomes[plugin.name]) if post is not None else None
        if data is not None and getattr(plugin, 'commit', None):
            plan.commits[plugin.name] = data
        plan.plugins[plugin.name]['notes'] = list(getattr(plugin, 'notes', []))
    timings['postprocess'] = time.monotonic() - t0
    plan.sites = [st.summary() for st in view.sites.values()]
    plan.timings = timings
    return plan
