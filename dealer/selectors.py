"""Reads for the Dealer: its cycles and decisions (plain data for the web module and the command),
and the latest Detox cycle's protection, which the balancer and the undertaker work from.

`detox_protection(partition)` is the one place that reads Detox's history tables
(detox/models.py): the newest committed Detox cycle of the partition, its per-site quota and
protected bytes, and its `protect` decisions with the text of the deciding policy line.
"""
from django.db.models import Count

from dealer.models import DealerCycle, DealerDecision

MAX_ROWS = 10000


class NoSuchCycle(LookupError):
    pass


def _iso(t):
    return t.isoformat() if t else None


# ------------------------------------------------------------------------------ Detox's protection
def detox_protection(partition):
    """{'cycle': id, 'sites': {site: {'quota', 'protected'}}, 'protected': [[site, dataset, size,
    line text]]} of the newest committed (not test) Detox cycle of `partition`, or None when
    there is none (or the Detox app keeps no history)."""
    try:
        from detox.models import Cycle, Decision, SiteSummary
    except ImportError:
        return None
    cycle = (Cycle.objects.filter(partition=partition, test=False, state='committed').order_by('-id').first()
             or Cycle.objects.filter(partition=partition).order_by('-id').first())
    if cycle is None:
        return None
    lines = cycle.policy_text.splitlines()
    sites = {s.site: {'quota': s.quota, 'protected': s.protected}
             for s in SiteSummary.objects.filter(cycle=cycle)}
    protected = []
    for site, dataset, size, line in (Decision.objects.filter(cycle=cycle, decision='protect')
                                      .values_list('site', 'dataset', 'size', 'line').iterator(chunk_size=20000)):
        text = lines[line - 1].strip() if 0 < line <= len(lines) else ''
        protected.append([site, dataset, size, text])
    return {'cycle': cycle.id, 'sites': sites, 'protected': protected}


# ------------------------------------------------------------------------------ cycles and decisions
def cycle_get(cycle_id):
    """Cycle `cycle_id` (an id, or 'latest')."""
    if cycle_id in (None, '', 'latest'):
        cycle = DealerCycle.objects.order_by('-id').first()
        if cycle is None:
            raise NoSuchCycle('no Dealer cycle has run yet')
        return cycle
    cycle = DealerCycle.objects.filter(id=cycle_id).first()
    if cycle is None:
        raise NoSuchCycle(f'no Dealer cycle {cycle_id}')
    return cycle


def cycle_row(cycle):
    return {'id': cycle.id, 'partition': cycle.partition, 'state': cycle.state, 'test': cycle.test,
            'started': _iso(cycle.started), 'finished': _iso(cycle.finished), 'user': cycle.user,
            'comment': cycle.comment, 'application': cycle.application_id, 'seed': cycle.seed,
            'policy_sha256': cycle.policy_sha256, 'policy_filename': cycle.policy_filename,
            'inventory_seq': cycle.inventory_seq, 'seq': cycle.seq, 'num_proposals': cycle.num_proposals,
            'num_accepted': cycle.num_accepted, 'num_rejected': cycle.num_rejected,
            'num_replicas': cycle.num_replicas, 'num_transfers': cycle.num_transfers, 'volume': cycle.volume,
            'rejections': cycle.rejections, 'message': cycle.message}


def cycle_detail(cycle):
    row = cycle_row(cycle)
    row.update(plugins=cycle.plugins, sites=cycle.sites, site_rejections=cycle.site_rejections,
               timings=cycle.timings, rows_dropped=cycle.rows_dropped, policy=cycle.policy_text)
    return row


def cycles(*, partition=None, test=None, limit=100):
    qs = DealerCycle.objects.order_by('-id')
    if partition:
        qs = qs.filter(partition=partition)
    if test is not None:
        qs = qs.filter(test=test)
    return [cycle_row(c) for c in qs.defer('policy_text', 'sites', 'plugins', 'timings')[:limit]]


def decisions(cycle, *, decision=None, reason=None, plugin=None, site=None, dataset=None, offset=0,
              limit=1000):
    """(rows, total) of a cycle's decisions in their order, filtered."""
    qs = DealerDecision.objects.filter(cycle=cycle)
    for field, value in (('decision', decision), ('reason', reason), ('plugin', plugin), ('site', site),
                         ('dataset', dataset)):
        if value:
            qs = qs.filter(**{field: value})
    total = qs.count()
    rows = []
    for d in qs.order_by('order')[offset:offset + min(limit, MAX_ROWS)]:
        rows.append({'order': d.order, 'plugin': d.plugin, 'dataset': d.dataset,
                     'blocks': d.blocks.split('\n') if d.blocks else None, 'size': d.size, 'group': d.group,
                     'site': d.site, 'decision': d.decision, 'reason': d.reason, 'detail': d.detail,
                     'site_rejections': d.site_rejections, 'request_id': d.request_id, 'why': d.why})
    return rows, total


def reason_counts(cycle):
    """{(decision, reason): proposals} of a cycle, from its kept rows."""
    return {(d, r): n for d, r, n in DealerDecision.objects.filter(cycle=cycle).values_list('decision', 'reason')
            .annotate(n=Count('id')).values_list('decision', 'reason', 'n')}
