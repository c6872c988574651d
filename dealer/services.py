"""The Dealer's writes: the commit of a cycle (the built-in cycle's commit side) and its history.

`commit_cycle` runs in the server holding the writer lease. In one transaction: the cycle and its
decisions are recorded, then (unless a test run) the placements are applied as one change set
(a new or grown dataset replica with an empty block replica per new block, owned by the group:
projected usage rises at once, physical usage as files arrive; owners changed where the blocks
are already there), one transfer record per new block replica, and the plugins' own commits
(the requests plugin's request states). Placements the image no longer allows (the dataset or
the site went away meanwhile) are skipped and counted.
"""
import datetime
import json
import time

from django.db import transaction
from django.utils import timezone

from dealer import policy as dealer_policy
from dealer.app import is_test, policy_of
from dealer.models import CycleState, DealerCycle, DealerDecision
from execution.builtins import resolve
from inventory.objects import BlockReplica, DatasetReplica
from policy import load_class
from transfers.services import block_transfers_record

_BATCH = 5000


def _when(unix):
    return datetime.datetime.fromtimestamp(unix, tz=datetime.timezone.utc)


def decisions_prune(*, partition, keep):
    """Keep the decision rows of the newest `keep` cycles of the partition (their summaries stay)."""
    old = list(DealerCycle.objects.filter(partition=partition).order_by('-id').values_list('id', flat=True)[keep:])
    if old:
        DealerDecision.objects.filter(cycle_id__in=old).delete()


def cycle_record(*, meta, decisions, user='', application_id=None):
    """Record a cycle and its decision rows; returns the DealerCycle."""
    test = bool(meta.get('test_run'))
    cycle = DealerCycle.objects.create(
        partition=meta['partition'], state=CycleState.TEST if test else CycleState.COMMITTED, test=test,
        policy_text=meta['policy_text'], policy_sha256=meta['policy_sha256'],
        policy_filename=(meta.get('policy_file') or '')[:255], comment=meta.get('comment', ''), user=user[:150],
        application_id=application_id, seed=meta.get('seed', 0), started=_when(meta['started']),
        finished=timezone.now(), inventory_seq=meta.get('inventory_seq', 0),
        num_proposals=meta['num_proposals'], num_accepted=meta['num_accepted'],
        num_rejected=meta['num_proposals'] - meta['num_accepted'], volume=meta['volume'],
        rows_dropped=meta.get('rows_dropped', 0), rejections=meta.get('rejections', {}),
        site_rejections=meta.get('site_rejections', {}), plugins=meta.get('plugins', {}),
        sites=meta.get('sites', []), timings=meta.get('timings', {}))
    rows = [DealerDecision(cycle=cycle, order=order, plugin=plugin, dataset=dataset,
                           blocks='\n'.join(blocks) if blocks else '', size=size, group=group or '', site=site or '',
                           decision=decision, reason=reason, detail=(detail or '')[:255],
                           site_rejections=site_rejections or {}, request_id=request_id, why=(why or '')[:255])
            for (order, plugin, dataset, blocks, size, group, site, decision, reason, detail, site_rejections,
                 request_id, why) in decisions]
    DealerDecision.objects.bulk_create(rows, batch_size=_BATCH)
    return cycle


def _apply_placements(inventory, placements, made, counts):
    now = int(time.time())
    for site_name, dataset_name, new_blocks, regroup, group, whole, plugin in placements:
        dataset = inventory.datasets.get(dataset_name)
        site = inventory.sites.get(site_name)
        if dataset is None or site is None or group not in inventory.groups:
            counts['skipped'] += 1
            continue
        replica = site.find_dataset_replica(dataset_name)
        if replica is None:
            replica = inventory.update(DatasetReplica(dataset_name, site_name, growing=whole, group=group))
        elif whole and not replica.growing:
            inventory.update(DatasetReplica(dataset_name, site_name, growing=True, group=replica.group.name))
        existing = {br.block.name: br for br in replica.block_replicas}
        names = [b.name for b in dataset.blocks] if new_blocks is None else new_blocks
        for name in names:
            if name in existing or inventory.find_block(dataset, name) is None:
                continue                    # made (or gone) since the cycle decided
            inventory.update(BlockReplica(f'{dataset_name}#{name}', site_name, group, size=0, last_update=now))
            made.append((site_name, dataset_name, name, group, plugin))
        for name in regroup:
            br = existing.get(name)
            if br is not None and br.group.name != group:
                clone = br.clone()
                clone.group = group
                inventory.update(clone)
                counts['regrouped'] += 1
    return {'block_replicas_made': len(made), 'regrouped': counts['regrouped']}


def _plugin_commits(params):
    """{plugin name: commit function} of the policy the cycle was started with (read from the
    application's own parameters, never from what the cycle's process returned)."""
    policy = dealer_policy.parse(*policy_of(params))
    functions = {}
    for spec in policy.plugins:
        dotted = getattr(load_class(spec.module), 'commit', None)
        if dotted:
            functions[spec.name] = resolve(dotted)
    return policy, functions


def commit_cycle(result, context):
    """The commit of a Dealer cycle (execution.builtins); returns the cycle's summary."""
    app = context.app
    params = json.loads(app.args or '{}')
    policy, functions = _plugin_commits(params)
    meta = dict(result['cycle'], policy_text=policy.text, policy_sha256=policy.sha256,
                test_run=is_test(params))
    with transaction.atomic():
        cycle = cycle_record(meta=meta, decisions=result['decisions'], user=app.user.username,
                             application_id=app.id)
        decisions_prune(partition=policy.partition, keep=policy.keep_decisions)
        summary = {'cycle': cycle.id, 'test_run': cycle.test, 'proposals': cycle.num_proposals,
                   'accepted': cycle.num_accepted, 'volume': cycle.volume, 'rejections': cycle.rejections}
        if cycle.test:
            summary['message'] = (f'test cycle {cycle.id}: {cycle.num_accepted} of {cycle.num_proposals} proposals '
                                  f'would be placed ({cycle.volume} bytes); nothing applied')
            cycle.message = summary['message']
            cycle.save(update_fields=['message'])
            return summary
        made, counts = [], {'skipped': 0, 'regrouped': 0}
        applied = context.apply(lambda inv: _apply_placements(inv, result['placements'], made, counts),
                                origin=f'dealer cycle {cycle.id} (application {app.id})')
        transfers = 0
        for plugin in sorted({m[4] for m in made}):
            transfers += block_transfers_record(items=[m[:4] for m in made if m[4] == plugin], origin='dealer',
                                                origin_id=cycle.id, reason=f'dealer cycle {cycle.id}: {plugin}')
        plugin_results = {}
        for name, data in sorted(result.get('commits', {}).items()):
            if name in functions:
                plugin_results[name] = functions[name](data, cycle_id=cycle.id)
        cycle.seq = applied.seq or None
        cycle.num_replicas = len(made)
        cycle.num_transfers = transfers
        cycle.message = (f'cycle {cycle.id}: {cycle.num_accepted} of {cycle.num_proposals} proposals placed, '
                         f'{len(made)} block replicas made ({cycle.volume} bytes), {counts["regrouped"]} re-owned'
                         + (f', {counts["skipped"]} skipped (changed since the decision)' if counts['skipped'] else ''))
        cycle.save(update_fields=['seq', 'num_replicas', 'num_transfers', 'message'])
    summary.update(message=cycle.message, seq=applied.seq, num_changes=applied.num_changes, transfers=transfers,
                   skipped=counts['skipped'], plugins=plugin_results)
    return summary
