"""The `dealer` web module: /data/dealer/cycles, /data/dealer/cycle, /data/dealer/decisions and
the /web/dealer page (per-site projected and physical occupancy, a cycle's placements and its
rejections by reason). Reads only."""
from dealer import cycle as dealer_cycle
from dealer import selectors
from webmodules.base import HTMLMixin, IllFormedRequest, NotFound, Param, WebModule, count, yesno
from webmodules.schemas import ANY, BOOLEAN, INTEGER, ISO_TIME, NUMBER, STRING, array, nullable, obj

TB = 1e12
CYCLE = Param('cycle', description='a cycle id, or latest (default); also `id`', example='latest')
_CYCLE = obj({'id': INTEGER, 'partition': STRING, 'state': STRING, 'test': BOOLEAN, 'started': nullable(ISO_TIME),
              'finished': nullable(ISO_TIME), 'user': nullable(STRING), 'comment': nullable(STRING),
              'application': nullable(INTEGER), 'seed': ANY, 'policy_sha256': nullable(STRING),
              'policy_filename': nullable(STRING), 'inventory_seq': nullable(INTEGER), 'seq': nullable(INTEGER),
              'num_proposals': nullable(INTEGER), 'num_accepted': nullable(INTEGER), 'num_rejected': nullable(INTEGER),
              'num_replicas': nullable(INTEGER), 'num_transfers': nullable(INTEGER), 'volume': nullable(NUMBER),
              'rejections': ANY, 'message': nullable(STRING)}, required=['id', 'partition', 'state', 'test'], extra=True)


def _cycle(request):
    value = request.get('cycle', request.get('id', 'latest'))
    if isinstance(value, list):
        value = value[-1]
    if value not in ('', 'latest') and not (isinstance(value, str) and value.isascii() and value.isdigit()
                                            and len(value) < 19):
        raise IllFormedRequest('cycle', value, 'expected a cycle id or "latest"')
    try:
        return selectors.cycle_get(value if value in ('', 'latest') else int(value))
    except selectors.NoSuchCycle as exc:
        raise NotFound(str(exc)) from None


def _text(request, name):
    value = request.get(name)
    return value if isinstance(value, str) and value else None


class Cycles(WebModule):
    """Dealer cycles, newest first: `partition`, `test` (yes/no), `limit` (default 100)."""
    parameters = (Param('partition', description='cycles of this partition'),
                  Param('test', 'yesno', description='test cycles (y) or real ones (n)'),
                  Param('limit', 'integer', default=100, description='at most this many (up to 10000)'))
    response = array(_CYCLE)

    def run(self, caller, request, inventory):
        return selectors.cycles(partition=_text(request, 'partition'), test=yesno(request, 'test'),
                                limit=count(request, 'limit', 100, 10000) or 100)


class Cycle(WebModule):
    """One cycle (`cycle` = id or latest): its summary, plugins, sites, rejections, timings."""
    parameters = (CYCLE,)
    response = dict(_CYCLE, properties=dict(_CYCLE['properties'], plugins=ANY, sites=ANY, site_rejections=ANY,
                                            timings=ANY, rows_dropped=ANY, policy=nullable(STRING)))

    def run(self, caller, request, inventory):
        return selectors.cycle_detail(_cycle(request))


class Decisions(WebModule):
    """The decisions of a cycle (`cycle` = id or latest), in their order: each names the plugin,
    dataset (blocks), group, site, decision (accepted/rejected), reason code and detail, and the
    candidate sites rejected per reason. Filters: `decision`, `reason`, `plugin`, `site`,
    `dataset`; `offset`, `limit` (default 1000, at most 10000)."""
    parameters = (CYCLE, Param('decision', description='accepted or rejected'), Param('reason', description='a reason code'),
                  Param('plugin'), Param('site'), Param('dataset'), Param('offset', 'integer', default=0),
                  Param('limit', 'integer', default=1000, description='at most 10000'))
    response = array(obj({'order': INTEGER, 'plugin': STRING, 'dataset': STRING, 'blocks': nullable(array(STRING)),
                          'size': nullable(NUMBER), 'group': nullable(STRING), 'site': nullable(STRING),
                          'decision': STRING, 'reason': nullable(STRING), 'detail': nullable(STRING),
                          'site_rejections': ANY, 'request_id': nullable(INTEGER), 'why': ANY},
                         required=['order', 'plugin', 'dataset', 'decision'], extra=True))

    def run(self, caller, request, inventory):
        cycle = _cycle(request)
        rows, total = selectors.decisions(cycle, decision=_text(request, 'decision'), reason=_text(request, 'reason'),
                                          plugin=_text(request, 'plugin'), site=_text(request, 'site'),
                                          dataset=_text(request, 'dataset'), offset=count(request, 'offset', 0, 10 ** 9),
                                          limit=count(request, 'limit', 1000, selectors.MAX_ROWS) or 1000)
        self.message = f'cycle {cycle.id}: {len(rows)} of {total} decisions'
        return rows


def _occupancy(value):
    return '' if value is None else f'{value:.1%}'


def _site_rows(inventory, partition_name, cycle_sites):
    """Per site: physical and projected occupancy now (the RAM image), and at the cycle."""
    at_cycle = {s['site']: s for s in cycle_sites}
    partition = inventory.partitions.get(partition_name)
    rows = []
    for name in sorted(inventory.sites):
        sp = inventory.sites[name].partitions.get(partition) if partition is not None else None
        if sp is None:
            continue
        quota = sp.quota
        physical, projected = sp.usage(physical=True), sp.usage(physical=False)
        before = at_cycle.get(name, {})
        if quota == 0 and not projected and not before:
            continue
        rows.append({'site': name, 'target': before.get('target', False), 'why_not': before.get('why_not', ''),
                     'quota_tb': quota / TB if quota > 0 else None, 'physical_tb': physical / TB,
                     'projected_tb': projected / TB,
                     'physical': _occupancy(physical / quota if quota > 0 else None),
                     'projected': _occupancy(projected / quota if quota > 0 else None),
                     'physical_width': min(100.0, 100 * physical / quota) if quota > 0 else 0,
                     'projected_width': min(100.0, 100 * projected / quota) if quota > 0 else 0,
                     'placements': before.get('placements', 0), 'added_tb': before.get('added', 0) / TB})
    return rows


class DealerPage(HTMLMixin, WebModule):
    """Per-site projected vs physical occupancy; a cycle's placements and rejections by reason."""
    title = 'Dealer'
    template = 'dealer/dealer.html'

    def run(self, caller, request, inventory):
        try:
            cycle = _cycle(request)
        except NotFound:
            return self.page(caller=caller, context={'cycle': None, 'cycles': []})
        placements, total_placed = selectors.decisions(cycle, decision='accepted', limit=500)
        rejections = sorted(cycle.rejections.items(), key=lambda kv: (-kv[1], kv[0]))
        site_rejections = sorted(cycle.site_rejections.items(), key=lambda kv: (-kv[1], kv[0]))
        context = {
            'cycle': selectors.cycle_row(cycle), 'cycles': selectors.cycles(limit=20),
            'sites': _site_rows(inventory, cycle.partition, cycle.sites),
            'placements': [dict(p, size_tb=p['size'] / TB) for p in placements], 'total_placed': total_placed,
            'rejections': [(r, n, dealer_cycle.REASONS.get(r, '')) for r, n in rejections],
            'site_rejections': [(r, n, dealer_cycle.REASONS.get(r, '')) for r, n in site_rejections],
            'plugins': [dict(p, name=n, volume_tb=p.get('volume', 0) / TB) for n, p in sorted(cycle.plugins.items())],
            'volume_tb': cycle.volume / TB,
        }
        return self.page(caller=caller, context=context)


export_data = {'cycles': Cycles, '': Cycles, 'cycle': Cycle, 'decisions': Decisions}
export_web = {'': DealerPage, 'cycle': DealerPage}
