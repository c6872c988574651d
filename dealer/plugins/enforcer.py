"""The enforcer plugin: rules such as "every /*/*/MINIAOD* dataset has at least 1 copy at sites
matching T2_US_*", in the format of the policy language's enforcer provider (so that one rules
file makes Detox protect what the Dealer enforces):

    {"rules": {"miniaod-us": {"datasets": ["/*/*/MINIAOD*"], "sites": ["T2_US_*"], "num_copies": 1,
                              "group": "AnalysisOps"}}}        (or a list of rules; or "path": a JSON file)

For every dataset matching a rule (by name), the copies counted are its replicas at matching sites
holding every block with an owner (the rule's `group` when it names one). For each copy missing,
a site of the rule where a replica already is but with another owner is proposed first (only the
owner changes), then any matching site that holds none. Rules go by name, datasets by name.
"""
import fnmatch
import json
import re

from dealer.plugins import Plugin, Proposal


class EnforcerPlugin(Plugin):
    def __init__(self, config=None):
        super().__init__(config)
        rules = self.config.get('rules')
        if rules is None and self.config.get('path'):
            with open(self.config['path']) as f:
                loaded = json.load(f)
            rules = loaded.get('rules', loaded) if isinstance(loaded, dict) else loaded
        if isinstance(rules, list):
            rules = {f'rule{i + 1}': rule for i, rule in enumerate(rules)}
        if not isinstance(rules, dict) or not rules:
            raise ValueError('the enforcer needs "rules" (or "path" to a JSON file of rules)')
        self.rules = []
        for name, rule in sorted(rules.items()):
            try:
                self.rules.append((name, [re.compile(fnmatch.translate(p)) for p in rule['datasets']],
                                   [re.compile(fnmatch.translate(p)) for p in rule['sites']],
                                   int(rule.get('num_copies', 1)), rule.get('group'), ', '.join(rule['sites'])))
            except (KeyError, TypeError) as exc:
                raise ValueError(f'rule {name}: needs datasets, sites and num_copies ({exc})') from None

    def propose(self, view):
        inventory = view.inventory
        proposals = []
        names = sorted(inventory.datasets)
        for rule, dataset_patterns, site_patterns, num_copies, group, where in self.rules:
            sites = [name for name in sorted(inventory.sites) if any(p.match(name) for p in site_patterns)]
            site_set = set(sites)
            owner = group or view.policy.group
            for name in names:
                if not any(p.match(name) for p in dataset_patterns):
                    continue
                dataset = inventory.datasets[name]
                nblocks = len(dataset.blocks)
                holding, other_owner = set(), []
                for replica in dataset.replicas:
                    site = replica.site.name
                    if site not in site_set:
                        continue
                    owners = {br._st[0].name for br in replica.block_replicas}
                    if len(replica.block_replicas) == nblocks and (owners == {group} if group else None not in owners):
                        holding.add(site)
                    elif any(o is not None for o in owners):
                        other_owner.append(site)
                missing = num_copies - len(holding)
                if missing <= 0:
                    continue
                free = tuple(s for s in sites if s not in holding)
                why = f'rule {rule}: {len(holding)} of {num_copies} copies at {where}'
                for site in sorted(other_owner)[:missing]:
                    proposals.append(Proposal(name, sites=(site,), group=owner, reason=why + ' (owner change)'))
                for _ in range(missing - min(missing, len(other_owner))):
                    proposals.append(Proposal(name, sites=free, group=owner, reason=why))
        return proposals
