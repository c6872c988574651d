"""The balancer plugin: from the latest Detox cycle, copy last copies away from the sites whose
protected fraction (protected bytes / quota) is highest, so that Detox may later delete them there,
until the highest and the lowest fraction differ by less than `threshold` (5 %).

A protected replica is a last copy when the text of its deciding policy line matches one of
`target_reasons` ({line text or fnmatch pattern: n}) and its dataset has at most n replicas at
disk sites holding every block in the partition. The fullest site gives its smallest last copy
first (ties by name); its fraction then drops by the copy's share of its quota, and so on, until
the fractions are within the threshold or `max_cycle_volume` is proposed. A copy may go to any
target site whose protected fraction is below the source's minus the threshold.

config: `source`, `path`, `detox_policy` (dealer/plugins/protection.py), `target_reasons`
(default {"*": 1}), `threshold` (0.05), `max_cycle_volume` (a size; TB as a number; default 50 TB).
"""
import fnmatch
import heapq
import re

from dealer.plugins import Plugin, Proposal
from dealer.plugins.protection import ProtectionSource
from dealer.policy import PolicyError, size_setting
from inventory.objects import StorageType


class BalancerPlugin(Plugin):
    def __init__(self, config=None, protection=None):
        super().__init__(config)
        self.source = ProtectionSource(self.config)
        if protection is not None:
            self.source.data = protection
        reasons = self.config.get('target_reasons', {'*': 1})
        if not isinstance(reasons, dict):
            raise ValueError('target_reasons must be an object {policy line text or pattern: copies}')
        self.reasons = [(re.compile(fnmatch.translate(text.strip())), int(n)) for text, n in sorted(reasons.items())]
        self.threshold = float(self.config.get('threshold', 0.05))
        try:
            self.max_volume = size_setting(self.config.get('max_cycle_volume', 50), 'balancer', 'max_cycle_volume')
        except PolicyError as exc:
            raise ValueError(str(exc)) from None

    def load(self, context):
        if self.source.data is None:
            self.source.load(context)

    def _limit(self, text):
        for regex, n in self.reasons:
            if regex.match(text):
                return n
        return None

    def _copies(self, view, dataset, memo):
        count = memo.get(dataset.name)
        if count is None:
            count, blocks = 0, len(dataset.blocks)
            for replica in dataset.replicas:
                if (replica._site.storage_type == StorageType.DISK and len(replica.block_replicas) == blocks
                        and view.replica_in_partition(replica)):
                    count += 1
            memo[dataset.name] = count
        return count

    def propose(self, view):
        protection = self.source.get(view)
        if not protection:
            self.notes.append(f'no Detox cycle of partition {view.policy.partition} to balance from')
            return []
        fractions = {}
        for site, row in protection['sites'].items():
            if row['quota'] > 0 and site in view.sites:
                fractions[site] = row['protected'] / row['quota']
        if not fractions:
            self.notes.append('no site with a quota in the Detox cycle')
            return []
        last, memo, limits = {}, {}, {}
        inventory = view.inventory
        for site, dataset_name, size, text in protection['protected']:
            if site not in fractions:
                continue
            limit = limits.get(text)
            if limit is None and text not in limits:
                limit = limits[text] = self._limit(text or '')
            dataset = inventory.datasets.get(dataset_name)
            if limit is None or dataset is None or inventory.sites[site].find_dataset_replica(dataset_name) is None:
                continue
            if self._copies(view, dataset, memo) <= limit:
                last.setdefault(site, []).append((size, dataset_name))
        for rows in last.values():
            rows.sort(reverse=True)          # popped from the end: smallest first
        low = min(fractions.values())
        heap = [(-f, site) for site, f in fractions.items()]
        heapq.heapify(heap)
        proposals, volume, seen = [], 0, set()
        while heap:
            negative, site = heapq.heappop(heap)
            fraction = -negative
            if fraction - low < self.threshold - 1e-9:      # (sums of shares: no float noise)
                break
            rows = last.get(site)
            while rows and rows[-1][1] in seen:
                rows.pop()
            if not rows:
                continue
            size, dataset_name = rows.pop()
            seen.add(dataset_name)
            destinations = tuple(st.name for st in view.targets
                                 if fractions.get(st.name, 0.0) < fraction - self.threshold)
            if not destinations:
                continue          # no site is low enough to take it (nor anything smaller)
            proposals.append(Proposal(dataset_name, sites=destinations,
                                      reason=f'last copy at {site} (protected fraction {fraction:.3f}, '
                                             f'lowest {low:.3f})'))
            volume += size
            if volume >= self.max_volume:
                self.notes.append(f'stopped at max_cycle_volume ({self.max_volume} bytes)')
                break
            quota = protection['sites'][site]['quota']
            heapq.heappush(heap, (-(fraction - size / quota), site))
        if not proposals:
            self.notes.append(f'balanced: protected fractions within {self.threshold:g} (or no last copy to move)')
        return proposals
