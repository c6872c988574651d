"""The requests plugin: the users' copy requests (transfers app, §9.1).

New requests are checked (the group and the items exist, some listed site is a target site, the
size is under `max_size`): refused ones are rejected with the reason; those that need nothing
(every copy exists) are completed; the others are activated. For every open request and item it
proposes the copies still missing: `n` among the listed sites (0: one at every listed site), a
listed site counting when its block replicas of the item, complete or not, are the request's
group's. The Dealer picks the destinations among the listed sites. Its commit
(transfers.services.copy_requests_after_cycle) records the new states, one queued action per
placed copy, and a note on the copies not placed.

config: `max_size` (a size: TB as a number, or text with a unit; default no limit),
`block_request_max` (a fraction: block items of one dataset totalling more than this fraction of
it are copied as the whole dataset; default: never).
"""
from dealer.plugins import Plugin, Proposal
from dealer.policy import PolicyError, size_setting
from transfers.resolve import Item, item_state


class RequestsPlugin(Plugin):
    commit = 'transfers.services:copy_requests_after_cycle'

    def __init__(self, config=None, requests=None):
        super().__init__(config)
        try:
            self.max_size = (size_setting(self.config['max_size'], 'requests', 'max_size')
                             if 'max_size' in self.config else None)
        except PolicyError as exc:
            raise ValueError(str(exc)) from None
        fraction = self.config.get('block_request_max')
        self.block_request_max = None if fraction is None else float(fraction)
        self.requests = requests          # None: read from the registry in load()
        self._decided = {}
        self._items = {}

    def load(self, context):
        if self.requests is None:
            from transfers.selectors import copy_requests_open
            self.requests = copy_requests_open()

    def _refusal(self, view, request, items):
        inventory = view.inventory
        if request['group'] not in inventory.groups:
            return f'unknown group {request["group"]}'
        for item in items:
            dataset = inventory.datasets.get(item.dataset)
            if dataset is None:
                return f'unknown dataset {item.dataset}'
            if item.block is not None and inventory.find_block(dataset, item.block) is None:
                return f'unknown block {item.name}'
        sites = [s for s in request['sites'] if s in inventory.sites]
        if not any(view.is_target(s) for s in sites):
            why = '; '.join(f'{s}: {view.sites[s].why_not}' for s in sites[:5]) or 'none of them exists'
            return f'no target site among {", ".join(request["sites"])} ({why})'
        if self.max_size is not None:
            size = 0
            for item in items:
                dataset = inventory.datasets[item.dataset]
                size += (view.dataset_size(dataset) if item.block is None
                         else inventory.find_block(dataset, item.block).size)
            if size > self.max_size:
                return f'too large: {size} bytes, over the maximum of {self.max_size}'
        return ''

    def _units(self, view, items):
        """The request's items as (dataset, blocks or None, [item names]): block items of one
        dataset go together, as the whole dataset when they pass block_request_max."""
        units, by_dataset = [], {}
        for item in items:
            if item.block is None:
                units.append((item.dataset, None, [item.name]))
            else:
                by_dataset.setdefault(item.dataset, []).append(item)
        for dataset_name, block_items in by_dataset.items():
            names = [i.name for i in block_items]
            blocks = tuple(sorted({i.block for i in block_items}))
            dataset = view.inventory.datasets[dataset_name]
            if self.block_request_max is not None:
                size = sum(view.inventory.find_block(dataset, b).size for b in blocks)
                if size > self.block_request_max * view.dataset_size(dataset):
                    blocks = None
            units.append((dataset_name, blocks, names))
        return units

    def propose(self, view):
        proposals = []
        self._decided = {'reject': [], 'complete': [], 'activate': []}
        for request in self.requests or ():
            items = [Item.parse(n) for n in request['items']]
            if request['status'] == 'new':
                refusal = self._refusal(view, request, items)
                if refusal:
                    self._decided['reject'].append([request['id'], refusal])
                    continue
            elif any(view.inventory.datasets.get(i.dataset) is None for i in items):
                continue         # (tracking ends it)
            made = self._request_proposals(view, request, items)
            if request['status'] == 'new':
                if made:
                    self._decided['activate'].append(request['id'])
                else:
                    self._decided['complete'].append([request['id'], 'nothing to do: every copy exists'])
            proposals += made
        return proposals

    def _request_proposals(self, view, request, items):
        made = []
        group, listed = request['group'], request['sites']
        for dataset, blocks, names in self._units(view, items):
            unit = Item(names[0], dataset, None) if blocks is None else None
            holders = set()
            for site in listed:
                states = ([item_state(view.inventory, unit, site, group)] if unit is not None else
                          [item_state(view.inventory, Item.parse(n), site, group) for n in names])
                if all(s in ('complete', 'incomplete') for s in states):
                    holders.add(site)
            rest = tuple(s for s in listed if s not in holders)
            if request['n'] == 0:
                wanted = [(s,) for s in rest]
            else:
                wanted = [rest] * min(max(0, request['n'] - len(holders)), len(rest))
            for sites in wanted:
                proposal = Proposal(dataset, blocks, sites, group, reason=f'copy request {request["id"]} of '
                                    f'{request["user"]}', request_id=request['id'], item=names[0])
                self._items[id(proposal)] = names
                made.append(proposal)
        return made

    def postprocess(self, view, outcomes):
        placed, waiting = [], {}
        for proposal, outcome in outcomes:
            names = self._items.get(id(proposal), [proposal.item])
            if outcome.accepted:
                placed += [[proposal.request_id, name, outcome.site] for name in names]
            else:
                waiting.setdefault(proposal.request_id, []).append(
                    f'{names[0]}{" (+%d)" % (len(names) - 1) if len(names) > 1 else ""}: {outcome.reason}'
                    f'{" (" + outcome.detail + ")" if outcome.detail else ""}')
        notes = []
        for request in self.requests or ():
            if request['id'] in {r[0] for r in self._decided['reject']}:
                continue
            lines = waiting.get(request['id'])
            note = ('not placed yet: ' + '; '.join(lines[:5]) + (f'; and {len(lines) - 5} more' if len(lines) > 5
                                                                 else '')) if lines else ''
            if note != (request.get('note') or ''):
                notes.append([request['id'], note[:2000]])
        return dict(self._decided, placed=placed, notes=notes)
