"""Horizontal scaling: a secondary server follows the primary's change-set log in real time.

Servers talk only through MySQL tables (docs/scaling.md). The primary's database (`primary` alias,
from `[server] master_conf`) holds the cluster's change-set log, its write queue, the executable
authorizations and the server table. A secondary loads its own image (from its local store when
that is still on the primary's history, else from a copy of the primary's store, or straight from
the primary's store when it keeps no local one) and then replays every change set in sequence
order, checking each against the primary's chained digest.
"""
import json
import logging
import time

from django.conf import settings
from django.db import connections
from django.utils import timezone

from inventory import services as inventory_services
from inventory import store
from inventory.models import ChangeSet, InventoryState

log = logging.getLogger('dynamo.cluster')

PRIMARY = 'primary'


def is_secondary():
    return getattr(settings, 'DYNAMO_MASTER', None) is not None


def cluster_db():
    """The database alias that holds the cluster's coordination tables (queue, servers, log)."""
    return PRIMARY if is_secondary() else 'default'


def own_address():
    """Where peers reach this server's own database."""
    db = settings.DATABASES['default']
    return {'host': db.get('HOST') or '127.0.0.1', 'port': int(db.get('PORT') or 3306), 'db': db['NAME']}


def follow_address(address):
    """Make the database at `address` ({host, port, db}) this server's primary: the `primary`
    alias is changed in place (every thread's next connection goes there) and this thread's
    connection is closed. Credentials are those of master_conf, else this server's own."""
    from dynamo_site.config import master_from_conf
    conf = dict(settings.DYNAMO_MASTER or {})
    if not conf:
        local = settings.DATABASES['default']
        conf = {'user': local['USER'], 'password': local['PASSWORD']}
    conf.update(host=address['host'], port=int(address['port']), db=address['db'])
    db, conf = master_from_conf(json.dumps(conf), settings.DATABASES['default'])
    if PRIMARY in settings.DATABASES:
        settings.DATABASES[PRIMARY].update(db)
    else:
        settings.DATABASES[PRIMARY] = db
    connections.configure_settings(settings.DATABASES)
    connections[PRIMARY].close()
    settings.DYNAMO_MASTER = conf


def become_primary():
    settings.DYNAMO_MASTER = None


def peer_connect(address, timeout=3):
    """A short-lived connection to a peer's database (same credentials as the primary's)."""
    import MySQLdb
    base = settings.DATABASES.get(PRIMARY) or settings.DATABASES['default']
    return MySQLdb.connect(host=address['host'], port=int(address['port']), db=address['db'], user=base['USER'],
                           passwd=base['PASSWORD'], connect_timeout=timeout, charset='utf8mb4', autocommit=True)


def resolve_primary(hops=3):
    """Point this process at the cluster's current primary: the configured one may have been
    replaced by failover (its database then names the new one; a former primary's own database
    does too). Commands call this before touching the cluster's tables."""
    if not is_secondary():
        from execution.failover import fenced_by
        address = fenced_by()
        if address is None:
            return
        log.warning('a newer primary replaced this server (failover): following its database %s', address)
        follow_address(address)
    for _ in range(hops):
        try:
            primary_at = InventoryState.objects.using(PRIMARY).filter(id=1).values_list('primary_at', flat=True).first()
        except Exception:   # noqa: BLE001 - unreachable: keep the configured primary
            return
        if not primary_at:
            return
        log.warning('a newer primary replaced the configured one (failover): following its database %s', primary_at)
        follow_address(json.loads(primary_at))


def describe_primary():
    db = settings.DATABASES.get(PRIMARY, settings.DATABASES['default'])
    return f'{db.get("HOST") or "localhost"}:{db.get("PORT") or 3306}/{db["NAME"]}'


def state_row(using='default', create=False):
    """The state row of a store as a dict (seq, digest, epoch, primary_at); `create` makes the row
    when the store has none yet (a fresh database), else its defaults are returned."""
    rows = InventoryState.objects.using(using)
    if create:
        rows.get_or_create(id=1)
    return rows.filter(id=1).values('seq', 'digest', 'epoch', 'primary_at').first() or \
        {'seq': 0, 'digest': '', 'epoch': 0, 'primary_at': ''}


def wait_for_primary(stop_event, say):
    """Block until the primary's database answers and a live primary is registered in it.
    `say(text)` reports what is being waited for (every 5 s at most). False if stopped meanwhile."""
    from execution.models import Server, ServerState
    last = ''
    last_said = 0.
    while not stop_event.is_set():
        try:
            connections[PRIMARY].close_if_unusable_or_obsolete()
            cutoff = timezone.now() - timezone.timedelta(seconds=settings.DYNAMO_HEARTBEAT_TIMEOUT)
            live = Server.objects.using(PRIMARY).filter(role='primary', state=ServerState.ONLINE,
                                                        heartbeat__gte=cutoff).exists()
            if live:
                return True
            reason = f'waiting for the primary server: none is online in {describe_primary()} (start the primary first)'
        except Exception as exc:   # noqa: BLE001 - any driver error: the primary's database is not there yet
            connections[PRIMARY].close()
            reason = f'waiting for the primary database {describe_primary()}: {str(exc).splitlines()[0][:200]}'
        if reason != last or time.monotonic() - last_said > 5:
            say(reason)
            last, last_said = reason, time.monotonic()
        stop_event.wait(1.0)
    return False


# ------------------------------------------------------------------------------ joining
def local_store_usable():
    """True when the local store is on the primary's history and the primary still logs every
    change set after it (then loading it and replaying is enough)."""
    local = state_row()
    seq, digest = local['seq'], local['digest']
    primary_seq = state_row(PRIMARY)['seq']
    if seq > primary_seq:
        return False
    if seq == 0:
        # nothing tells what the primary's store held at change set 0 but an empty store at 0
        return primary_seq == 0 and _store_empty('default') and _store_empty(PRIMARY)
    logged = ChangeSet.objects.using(PRIMARY).filter(seq=seq).values_list('digest', flat=True).first()
    if logged is None or logged != digest:
        return False
    return ChangeSet.objects.using(PRIMARY).filter(seq__gt=seq).count() == primary_seq - seq


def _store_empty(using):
    from inventory.models import Dataset, Site
    return not Site.objects.using(using).exists() and not Dataset.objects.using(using).exists()


def load_image(say):
    """The secondary's RAM image, ready to follow the primary (from its local store, from a copy
    of the primary's, or, without a local store, straight from the primary's)."""
    from execution import storecopy
    def progress(what, count, elapsed):
        say(f'loading: {count} {what} ({elapsed:.0f} s)')
    if not settings.DYNAMO_LOCAL_STORE:
        say(f'loading the inventory from the primary {describe_primary()} (no local store)')
        inventory, seq = store.load(progress=progress, using=PRIMARY)
        inventory.seq = seq
        return inventory
    if local_store_usable():
        say('loading the local store (it is on the primary\'s history)')
        inventory, seq = store.load(progress=progress)
        inventory.seq = seq
        return inventory
    say(f'copying the primary\'s store from {describe_primary()} while loading the image from it')
    return storecopy.copy_and_load(say, progress)


class Follower:
    """Applies the primary's change sets to this server's image (and local store), in order."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.local = settings.DYNAMO_LOCAL_STORE
        self.primary_seq = 0

    def lag(self):
        inventory = self.runtime.inventory
        seconds = 0.
        if inventory is not None and self.primary_seq > inventory.seq:
            pending = ChangeSet.objects.using(PRIMARY).filter(seq=inventory.seq + 1).values_list(
                'applied_at', flat=True).first()
            if pending is not None:
                seconds = max(0., (timezone.now() - pending).total_seconds())
        return {'changesets': max(0, self.primary_seq - (inventory.seq if inventory else 0)), 'seconds': round(seconds, 3)}

    def catch_up(self, inventory):
        """Replay everything the primary committed into a freshly loaded (not yet served) image."""
        total = 0
        while True:
            applied = self.step(inventory=inventory)
            if not applied:
                return total
            total += applied

    def step(self, limit=50, inventory=None):
        """Replay what the primary committed since; returns the number of change sets applied.
        Raises OutOfSync when this image cannot follow (the caller resynchronizes)."""
        inventory = inventory or self.runtime.inventory
        self.primary_seq = store.current_seq(PRIMARY)
        if self.primary_seq <= inventory.seq:
            if self.primary_seq < inventory.seq:
                raise inventory_services.OutOfSync(
                    f'this image is at change set {inventory.seq}, ahead of the primary ({self.primary_seq})')
            return 0
        sets = list(ChangeSet.objects.using(PRIMARY).filter(seq__gt=inventory.seq).order_by('seq')
                    .values_list('seq', 'origin', 'digest')[:limit])
        applied = 0
        for seq, origin, digest in sets:
            if seq != inventory.seq + 1:
                raise inventory_services.OutOfSync(f'change set {inventory.seq + 1} is missing from the primary\'s log')
            operations = list(inventory_services.read_changeset(seq, using=PRIMARY))
            try:
                if self.local:
                    inventory_services.apply_changeset(
                        inventory=inventory, origin=origin, operations=operations, keep_ids=True,
                        expect=(seq, digest), ram_lock=self.runtime.lock.write)
                else:
                    with self.runtime.lock.write():
                        inventory_services.replay(inventory, seq, operations, digest)
            except (inventory_services.OutOfSync, inventory_services.ImageLost):
                raise
            except Exception as exc:
                raise inventory_services.OutOfSync(f'change set {seq} could not be replayed: {exc}') from exc
            inventory.digest = digest
            applied += 1
        return applied


# ------------------------------------------------------------------------------ the writer lease
# One writer at a time, cluster-wide: a write application (on any server) or the primary's apply of
# a queued write holds the lease in the cluster's state row. Requests sent by the holder carry its
# name, so the primary applies them while the lease is held; it expires if its holder dies.
LEASE_SECONDS = 60


def _state_rows():
    db = cluster_db()
    InventoryState.objects.using(db).get_or_create(id=1)
    return InventoryState.objects.using(db).filter(id=1)


def lease_acquire(owner):
    """Take (or renew) the writer lease for `owner`; False if another writer holds it."""
    from django.db.models import Q
    now = timezone.now()
    return bool(_state_rows().filter(Q(writer='') | Q(writer=owner) | Q(writer_expires__lt=now)).update(
        writer=owner[:255], writer_expires=now + timezone.timedelta(seconds=LEASE_SECONDS)))


def lease_release(owner):
    _state_rows().filter(writer=owner[:255]).update(writer='', writer_expires=None)


def lease_holder():
    """The current holder's name, '' when the lease is free (or expired)."""
    row = _state_rows().values_list('writer', 'writer_expires').first()
    if not row or not row[0] or (row[1] is not None and row[1] < timezone.now()):
        return ''
    return row[0]


# ------------------------------------------------------------------------------ writes on a secondary
def send_changes(operations, *, origin, lease):
    """Queue ordered [op, object] changes in the cluster's write queue, sent by the holder of the
    writer lease `lease`; returns the request."""
    from execution import services
    from execution.models import RequestKind
    return services.request_submit(kind=RequestKind.CHANGES, origin=origin, lease=lease,
                                   payload=json.dumps(operations, separators=(',', ':')))


def forward_write(runtime, job):
    """Run a web write on this (secondary) image without keeping it: its changes, collected in
    order, become a change request on the primary. The web thread then waits for the primary to
    apply it and for this image to replay it (see runtime.submit_write)."""
    operations = []
    value = None
    owner = f'server {runtime.server_id} web write'
    if not lease_acquire(owner):
        if not job.cancelled:
            runtime.write_jobs.put(job)   # another writer works: try again on the next turn
        return False
    job.lease = owner
    try:
        if runtime.follower is not None:
            runtime.follower.catch_up(runtime.inventory)   # the write must see every committed change
        with runtime.lock.write():
            inventory = runtime.inventory
            journal = inventory.begin(sink=lambda op, data: operations.append([op, data]))
            journal.portable_files = True
            try:
                value = job.fn(inventory)
            finally:
                if not inventory.abort():
                    raise inventory_services.ImageLost('a forwarded web write could not be undone here')
        if operations:
            job.forward = send_changes(operations, origin=job.origin, lease=owner).id
        else:
            lease_release(owner)
        job.result = (value, None)
    except inventory_services.ImageLost as exc:
        lease_release(owner)
        job.error = exc
        job.done.set()
        raise
    except BaseException as exc:   # reported to the web caller; nothing was sent
        lease_release(owner)
        job.error = exc
    job.done.set()
    return True


def wait_forwarded(runtime, request_id, timeout, lease=None):
    """Wait for a forwarded write: applied on the primary, then replayed here. Returns an
    AppliedChangeSet; raises ObjectError if the primary refused it (nothing changed then)."""
    from execution import services
    from execution.models import RequestState
    from inventory.objects import ObjectError
    deadline = time.monotonic() + timeout
    try:
        request = services.request_wait(request_id=request_id, timeout=timeout)
    finally:
        if lease:
            lease_release(lease)
    if request.state == RequestState.FAILED:
        raise ObjectError(request.message)
    if request.state != RequestState.APPLIED:
        from execution.runtime import WriterUnavailable
        raise WriterUnavailable(f'the primary has not applied request {request_id} yet (it is {request.state}); '
                                'it may still be applied')
    while request.seq and runtime.inventory.seq < request.seq and time.monotonic() < deadline:
        time.sleep(0.005)
    result = json.loads(request.result or '{}')
    return inventory_services.AppliedChangeSet(request.seq or 0, result.get('num_changes', 0),
                                               result.get('elapsed', 0.), result)
