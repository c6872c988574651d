"""The undertaker plugin: rescue data whose only copies are at sites that are not READY
(WAITROOM, MORGUE, UNKNOWN; plus `additional_sites`).

A block is endangered when no replica of it with an owner, complete or being filled, is at a
READY site outside those; its replica at a bad site must be in the partition. A dataset all of
whose blocks are endangered is proposed whole, otherwise its endangered blocks; the Dealer picks
the destination among the target sites. Datasets go by name. With `protected_only`, only what the
latest Detox cycle protected at the bad sites is rescued (config as the balancer's `source`).

config: `additional_sites` (fnmatch patterns of sites treated as bad), `protected_only` (false),
`source`, `path`, `detox_policy` (dealer/plugins/protection.py).
"""
import fnmatch
import re

from dealer.plugins import Plugin, Proposal
from dealer.plugins.protection import ProtectionSource
from inventory.objects import SiteStatus


class UndertakerPlugin(Plugin):
    def __init__(self, config=None, protection=None):
        super().__init__(config)
        self.additional = [re.compile(fnmatch.translate(p)) for p in self.config.get('additional_sites') or ()]
        self.protected_only = bool(self.config.get('protected_only', False))
        self.source = ProtectionSource(self.config) if self.protected_only else None
        if protection is not None and self.source is not None:
            self.source.data = protection

    def load(self, context):
        if self.source is not None and self.source.data is None:
            self.source.load(context)

    def _bad(self, site):
        return site.status != SiteStatus.READY or any(p.match(site.name) for p in self.additional)

    def propose(self, view):
        inventory = view.inventory
        bad = sorted(name for name, site in inventory.sites.items() if self._bad(site))
        if not bad:
            return []
        bad_set = set(bad)
        protected = None
        if self.source is not None:
            data = self.source.get(view)
            if not data:
                self.notes.append('protected_only: no Detox cycle to learn from')
                return []
            protected = {(site, dataset) for site, dataset, _, _ in data['protected'] if site in bad_set}
        datasets = set()
        for name in bad:
            for replica in inventory.sites[name].dataset_replicas():
                if protected is not None and (name, replica.dataset.name) not in protected:
                    continue
                if view.replica_in_partition(replica):
                    datasets.add(replica.dataset.name)
        proposals = []
        for dataset_name in sorted(datasets):
            dataset = inventory.datasets[dataset_name]
            endangered = []
            for block in dataset.blocks:
                safe = False
                at_bad = False
                for br in block.replicas:
                    if br._site.name in bad_set:
                        at_bad = at_bad or view.in_partition(br)
                    elif br._st[0].name is not None:
                        safe = True
                        break
                if not safe and at_bad:
                    endangered.append(block.name)
            if not endangered:
                continue
            where = ', '.join(r.site.name for r in dataset.replicas if r.site.name in bad_set)
            if len(endangered) == len(dataset.blocks):
                proposals.append(Proposal(dataset_name, reason=f'only copies at {where}'))
            else:
                proposals.append(Proposal(dataset_name, tuple(sorted(endangered)),
                                          reason=f'{len(endangered)} blocks only at {where}'))
        if not proposals:
            self.notes.append(f'nothing only at {", ".join(bad)}')
        return proposals
