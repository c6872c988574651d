"""The group reassign plugin: replicas at the target sites owned by one of `from_groups` go to
`group` (default: the policy's) through the copy machinery: the same blocks, at the same site,
for the new owner. Only the owner changes for what is there; nothing is transferred.

config: `from_groups` (required), `group`.
"""
from dealer.plugins import Plugin, Proposal


class GroupReassignPlugin(Plugin):
    def __init__(self, config=None):
        super().__init__(config)
        self.from_groups = set(self.config.get('from_groups') or ())
        if not self.from_groups:
            raise ValueError('the group reassign plugin needs "from_groups"')
        self.group = self.config.get('group')

    def propose(self, view):
        group = self.group or view.policy.group
        from_groups = {view.inventory.groups[g] for g in self.from_groups if g in view.inventory.groups}
        proposals = []
        for st in view.targets if from_groups else ():
            rows = []
            for replica in st.site.dataset_replicas():
                blocks = [br._block.name for br in replica.block_replicas if br._st[0] in from_groups]
                if blocks:
                    whole = len(blocks) == len(replica.dataset.blocks)
                    rows.append((replica.dataset.name, None if whole else tuple(sorted(blocks))))
            for dataset, blocks in sorted(rows, key=lambda r: r[0]):
                proposals.append(Proposal(dataset, blocks, (st.name,), group,
                                          reason=f'owned by {", ".join(sorted(self.from_groups))}'))
        return proposals
