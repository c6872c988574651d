"""The popularity plugin: more copies of datasets in demand, from the popularity provider of the
policy language (a JSON-lines or CSV file, docs/policies.md "Attribute providers").

A dataset of weight w (the provider's `variable`, default dataset.demand_rank) wants
min(max_copies, ceil(w / threshold)) copies; it is proposed once for each copy it lacks (its
replicas at disk sites holding every block with an owner count), whole, to any target site. The
proposals go by decreasing weight (ties by name), first copies of every dataset, then second
ones, and so on (the original's round robin).

config: `path` (the popularity file, readable by DYNAMO_APP_USER), `format` (jsonl or csv,
default by the suffix), `variable` (dataset.demand_rank, dataset.usage_rank or
replica.num_access), `threshold` (weight per copy, default 1), `max_copies` (default 3),
`max_dataset_size` (a size; TB as a number; default 50 TB), `datasets` (fnmatch patterns the
dataset must match; default all), `source_groups` (some block replica must be owned by one of
them; default any), `max_proposals` (default 100000).
"""
import fnmatch
import math
import re

from dealer.plugins import Plugin, Proposal
from dealer.policy import PolicyError, size_setting
from inventory.objects import StorageType
from policy import PopularityFile

VARIABLES = ('dataset.demand_rank', 'dataset.usage_rank', 'replica.num_access')


class PopularityPlugin(Plugin):
    def __init__(self, config=None, weights=None):
        super().__init__(config)
        self.variable = self.config.get('variable', 'dataset.demand_rank')
        if self.variable not in VARIABLES:
            raise ValueError(f'variable must be one of {", ".join(VARIABLES)}, got {self.variable!r}')
        self.threshold = float(self.config.get('threshold', 1.0))
        if self.threshold <= 0:
            raise ValueError('threshold must be positive')
        self.max_copies = int(self.config.get('max_copies', 3))
        try:
            self.max_size = size_setting(self.config.get('max_dataset_size', 50), 'popularity', 'max_dataset_size')
        except PolicyError as exc:
            raise ValueError(str(exc)) from None
        patterns = self.config.get('datasets') or []
        self.patterns = [re.compile(fnmatch.translate(p)) for p in patterns]
        self.source_groups = set(self.config.get('source_groups') or ())
        self.max_proposals = int(self.config.get('max_proposals', 100000))
        self.weights = weights            # {dataset name: weight}, or None: read `path` in load()
        self._getter = None

    def load(self, context):
        if self.weights is not None:
            return
        path = self.config.get('path')
        if not path:
            raise ValueError('the popularity plugin needs "path" (the popularity file)')
        provider = PopularityFile(path, format=self.config.get('format'))
        if self.variable not in provider.provides:
            self.notes.append(f'{path} has no column for {self.variable}: every weight is 0')
            self._getter = lambda obj: 0
        else:
            self._getter = provider.getter(self.variable)

    def _weight(self, dataset):
        if self.weights is not None:
            return self.weights.get(dataset.name, 0)
        if self.variable == 'replica.num_access':
            return self._getter(dataset.replicas[0]) if dataset.replicas else 0
        return self._getter(dataset)

    @staticmethod
    def _copies(dataset, null_group):
        count = 0
        blocks = len(dataset.blocks)
        for replica in dataset.replicas:
            if replica._site.storage_type != StorageType.DISK or len(replica.block_replicas) != blocks:
                continue
            for br in replica.block_replicas:
                if br._st[0] is not null_group:
                    count += 1
                    break
        return count

    def propose(self, view):
        ranked = []
        null_group = view.inventory.null_group
        sources = {view.inventory.groups[g] for g in self.source_groups if g in view.inventory.groups}
        for name, dataset in view.inventory.datasets.items():
            weight = self._weight(dataset)
            if not weight or weight <= 0:
                continue
            if self.patterns and not any(p.match(name) for p in self.patterns):
                continue
            wanted = min(self.max_copies, math.ceil(weight / self.threshold))
            missing = wanted - self._copies(dataset, null_group)
            if missing <= 0 or view.dataset_size(dataset) > self.max_size:
                continue
            if self.source_groups and not any(br._st[0] in sources for r in dataset.replicas
                                              for br in r.block_replicas):
                continue
            ranked.append((-weight, name, missing, weight))
        ranked.sort()
        proposals = []
        for round_ in range(self.max_copies):
            for _, name, missing, weight in ranked:
                if missing > round_:
                    proposals.append(Proposal(name, reason=f'weight {weight:g}: copy {round_ + 1} of {missing} '
                                                           f'more'))
                    if len(proposals) >= self.max_proposals:
                        self.notes.append(f'stopped at max_proposals ({self.max_proposals})')
                        return proposals
        if not ranked:
            self.notes.append('no dataset wants more copies')
        return proposals
