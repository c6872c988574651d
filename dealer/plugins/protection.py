"""Where the balancer and the undertaker learn what Detox protects: a dict

    {'cycle': id or None, 'sites': {site: {'quota': bytes, 'protected': bytes}},
     'protected': [[site, dataset, bytes, text of the deciding policy line], ...]}

from one of three sources (the plugin's config "source"):

- "detox" (default): the newest committed Detox cycle of the partition in Detox's history tables
  (dealer.selectors.detox_protection);
- "file": a JSON file of that shape ("path"), e.g. exported from another system;
- "policy": a Detox policy file ("detox_policy"), run as a test cycle on the image now (costs a
  Detox cycle; for sites whose Detox runs elsewhere, and for tests).
"""
import json


class ProtectionSource:
    def __init__(self, config):
        self.source = config.get('source', 'detox')
        if self.source not in ('detox', 'file', 'policy'):
            raise ValueError(f'source must be detox, file or policy, got {self.source!r}')
        self.path = config.get('path') if self.source == 'file' else config.get('detox_policy')
        if self.source != 'detox' and not self.path:
            raise ValueError(f'source {self.source} needs "{"path" if self.source == "file" else "detox_policy"}"')
        self.data = None
        self._policy_text = None

    def load(self, context):
        if self.source == 'detox':
            from dealer.selectors import detox_protection
            self.data = detox_protection(context.partition)
        elif self.source == 'file':
            with open(self.path) as f:
                self.data = json.load(f)
        else:
            with open(self.path) as f:
                self._policy_text = f.read()

    def get(self, view):
        """The protection dict (None when there is no Detox cycle to learn from)."""
        if self.source == 'policy' and self.data is None and self._policy_text is not None:
            self.data = run_policy(view.inventory, self._policy_text, self.path, view.now)
        return self.data


def run_policy(inventory, text, filename, now):
    """The protection of a Detox policy run (as a test) on the image."""
    from detox import cycle, policyfile
    policy = policyfile.parse(text, filename, now=now)
    plan = cycle.run(inventory, policy, now=now, force=True)
    sites = {s.site: {'quota': s.quota, 'protected': s.protected} for s in plan.sites}
    protected = [[d.site, d.dataset, d.size, d.text.strip()] for d in plan.decisions if d.decision == 'protect']
    return {'cycle': None, 'sites': sites, 'protected': protected}
