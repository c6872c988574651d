"""Request tracking, the built-in cycle `track_requests` (§9.1-9.2): copy request actions are
completed when their replicas are complete (the file operations fill them), copy requests when
every item has its copies; new deletion requests are carried out (ownership to the null group at
the named sites, a deletion record per block replica) and completed when the replicas are gone.

`run` computes in the cycle's confined process from the RAM image and the registry (read only);
`commit` applies it in the server, holding the writer lease: the inventory changes through the
write path and the registry and deletion records in the same transaction. The decisions about an
image are the pure functions below (item_state, plan_deletion, track).
"""
import time

from django.db import transaction

from inventory.objects import DatasetReplica
from transfers import selectors, services
from transfers.resolve import Item, item_blocks, item_state

GRACE_SECONDS = 1800      # a placed copy whose replica vanished counts as lost after this long


# ------------------------------------------------------------------------ pure: what the image says
def plan_deletion(inventory, request):
    """(deletions, reason) of a deletion request (a dict of deletion_requests_open) on the image:
    deletions [(site, dataset, [block names] or None for the whole dataset replica, item)],
    reason '' or why it is refused (it would delete a last complete copy)."""
    deletions = []
    doomed = {}          # id(block) -> set of sites losing it
    for name in request['items']:
        item = Item.parse(name)
        blocks = item_blocks(inventory, item)
        for site_name in request['sites']:
            site = inventory.sites.get(site_name)
            replica = site.find_dataset_replica(item.dataset) if site is not None else None
            if replica is None:
                continue
            wanted = {b.name for b in blocks}
            owned = [br for br in replica.block_replicas if br.block.name in wanted and br.group.name is not None]
            if not owned:
                continue
            whole = item.block is None and len(owned) == len(replica.block_replicas)
            deletions.append((site.name, item.dataset, None if whole else sorted(br.block.name for br in owned),
                              item.name))
            for br in owned:
                doomed.setdefault(id(br.block), (br.block, set()))[1].add(site.name)
    if not request.get('allow_last_copy'):
        for block, sites in sorted(doomed.values(), key=lambda v: v[0].full_name()):
            others = [br for br in block.replicas if br.site.name not in sites and br.group.name is not None
                      and br.is_complete()]
            if not others:
                gone = [br for br in block.replicas if br.site.name in sites and br.is_complete()]
                if gone:
                    return [], (f'it would delete the last complete copy of {block.full_name()} (at '
                                f'{", ".join(sorted(br.site.name for br in gone))}); an admin may allow it '
                                f'with allow_last_copy')
    return deletions, ''


def _copy_updates(inventory, request, now, grace):
    """(action updates [[id, status, reason]], request completed?) of an activated copy request."""
    group = request['group']
    items = [Item.parse(n) for n in request['items']]
    updates = []
    satisfied = True
    complete_at = {}
    for item in items:
        if inventory.datasets.get(item.dataset) is None:
            complete_at[item.name] = None      # gone from the inventory: nothing left to do
            continue
        sites = [s for s in request['sites'] if item_state(inventory, item, s, group) == 'complete']
        complete_at[item.name] = set(sites)
        wanted = request['n'] if request['n'] > 0 else len(request['sites'])
        if len(sites) < wanted:
            satisfied = False
    for action_id, item_name, site, status, updated in request['actions']:
        if status != 'queued':
            continue
        done = complete_at.get(item_name)
        if done is None:
            updates.append([action_id, 'failed', f'{Item.parse(item_name).dataset} is no longer in the inventory'])
        elif site in done:
            updates.append([action_id, 'completed', ''])
        elif item_state(inventory, Item.parse(item_name), site, group) is None and now - updated > grace:
            updates.append([action_id, 'failed', f'the replica at {site} disappeared'])
        elif satisfied:
            updates.append([action_id, 'cancelled', 'the request has its copies elsewhere'])
    return updates, satisfied


def _deletion_updates(inventory, request):
    updates = []
    open_actions = False
    for action_id, item_name, site, status, updated in request['actions']:
        if status != 'queued':
            continue
        if not _left(inventory, Item.parse(item_name), site):
            updates.append([action_id, 'completed', ''])
        else:
            open_actions = True
    return updates, not open_actions


def _left(inventory, item, site_name):
    """Are block replicas of the item still at the site (whatever their owner: the null group's
    are there until their files are gone)?"""
    site = inventory.sites.get(site_name)
    replica = site.find_dataset_replica(item.dataset) if site is not None else None
    if replica is None:
        return False
    wanted = {b.name for b in item_blocks(inventory, item)}
    return any(br.block.name in wanted for br in replica.block_replicas)


def track(inventory, copy_requests, deletion_requests, *, now=None, grace=GRACE_SECONDS):
    """What tracking does on this image: {'copy': {'actions': [[id, status, reason]], 'complete':
    [ids]}, 'deletion': {'execute': [ids], 'reject': [[id, reason]], 'nothing': [ids], 'actions':
    [...], 'complete': [ids]}}."""
    now = time.time() if now is None else now
    copy = {'actions': [], 'complete': []}
    for request in copy_requests:
        if request['status'] != 'activated':
            continue
        updates, satisfied = _copy_updates(inventory, request, now, grace)
        copy['actions'] += updates
        if satisfied:
            copy['complete'].append(request['id'])
    deletion = {'execute': [], 'reject': [], 'nothing': [], 'actions': [], 'complete': []}
    for request in deletion_requests:
        if request['status'] == 'new':
            deletions, reason = plan_deletion(inventory, request)
            if reason:
                deletion['reject'].append([request['id'], reason])
            elif deletions:
                deletion['execute'].append(request['id'])
            else:
                deletion['nothing'].append(request['id'])
        else:
            updates, done = _deletion_updates(inventory, request)
            deletion['actions'] += updates
            if done:
                deletion['complete'].append(request['id'])
    return {'copy': copy, 'deletion': deletion}


# ------------------------------------------------------------------------ the built-in cycle
def run(inventory, params):
    """In the cycle's process: read the open requests, decide on the image."""
    started = time.monotonic()
    copies, deletions = selectors.copy_requests_open(), selectors.deletion_requests_open()
    result = track(inventory, copies, deletions, now=params.get('now'),
                   grace=float(params.get('grace_seconds', GRACE_SECONDS)))
    result['seen'] = {'copy_requests': len(copies), 'deletion_requests': len(deletions),
                      'seconds': round(time.monotonic() - started, 3)}
    return result


def _null_owned(br):
    clone = br.clone()
    clone.group = None
    return clone


def commit(result, context):
    """In the server, under the writer lease: deletions through the write path, the registry and
    the deletion records in the same transaction."""
    deletion = result['deletion']
    executed, refused, records = {}, [], []
    requests = {r['id']: r for r in selectors.deletion_requests_open() if r['id'] in set(deletion['execute'])}

    def builder(inventory):
        for request_id in deletion['execute']:
            request = requests.get(request_id)
            if request is None or request['status'] != 'new':
                continue                            # cancelled meanwhile
            deletions, reason = plan_deletion(inventory, request)   # the image may have moved since run
            if reason:
                refused.append([request_id, reason])
                continue
            done = []
            for site_name, dataset_name, blocks, item_name in deletions:
                site = inventory.sites[site_name]
                replica = site.find_dataset_replica(dataset_name)
                if blocks is None:
                    inventory.update(DatasetReplica(dataset_name, site_name, growing=False, group=None))
                wanted = None if blocks is None else set(blocks)
                for br in list(replica.block_replicas):
                    if (wanted is None or br.block.name in wanted) and br.group.name is not None:
                        inventory.update(_null_owned(br))
                        records.append((site_name, dataset_name, br.block.name,
                                        f'deletion request {request_id} of {request["user"]}', request_id))
                done.append((item_name, site_name))
            executed[request_id] = done
        return {'deletion_requests_executed': len(executed)}

    with transaction.atomic():
        applied = context.apply(builder, origin=f'track_requests (application {context.app.id})')
        for request_id in sorted({r[4] for r in records}):
            services.block_deletions_record(items=[r[:4] for r in records if r[4] == request_id],
                                            origin='request', origin_id=request_id)
        counts = services.requests_track_apply(
            copy_actions=result['copy']['actions'], copy_complete=result['copy']['complete'],
            deletion_executed=executed, deletion_reject=deletion['reject'] + refused,
            deletion_nothing=deletion['nothing'], deletion_actions=deletion['actions'],
            deletion_complete=deletion['complete'])
    counts.update(seq=applied.seq, num_changes=applied.num_changes, deletion_records=len(records))
    counts['message'] = (f"{counts['copy_requests_completed']} copy requests completed, "
                         f"{counts['copy_actions_updated']} copy actions updated, {len(executed)} deletion "
                         f"requests carried out ({len(records)} block replicas), "
                         f"{counts['deletion_requests_rejected']} rejected")
    return counts
