"""Failover: when the primary's heartbeat stops, one secondary takes its place (docs/scaling.md).

Every server heartbeats into the cluster's server table and, a secondary, also into its own
database, where it keeps shadow copies of the cluster's tables (servers, applications, write
queue, authorizations, users and roles). When the primary's heartbeat is older than
`failover_timeout`, the live secondary with the lowest server id (a choice every secondary makes
alike) replays whatever it can still fetch, raises the cluster epoch, takes over the shadow tables
as the cluster's, and fences every other database it knows: their state rows get the new epoch and
the new primary's address. A follower sees that in its own database and follows the new primary; a
former primary sees it too (running or restarted) and rejoins as a secondary.
"""
import datetime
import json
import logging
import time

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from execution import cluster
from execution.models import (Application, AppState, ChangeRequest, ChangeRequestChunk,
                              ExecAuthorization, RequestState, Server, ServerState)
from inventory.models import InventoryState

log = logging.getLogger('dynamo.failover')

SHADOW_INTERVAL = 5.0


def _shadowed():
    from django.contrib.auth import get_user_model

    from webmodules.models import Identity, RoleGrant
    return [get_user_model(), Identity, RoleGrant, ExecAuthorization, Server, Application, ChangeRequest,
            ChangeRequestChunk]


def shadow_copy():
    """Copy the cluster's coordination tables into this server's own database (one transaction)."""
    tables = []
    for model in _shadowed():
        columns = [f.column for f in model._meta.concrete_fields]
        rows = list(model._base_manager.using(cluster.PRIMARY).values_list(
            *[f.attname for f in model._meta.concrete_fields]))
        tables.append((model._meta.db_table, columns, rows))
    with transaction.atomic(using='default'), connections['default'].cursor() as c:
        c.execute('SET SESSION foreign_key_checks = 0')
        try:
            for table, _, _ in reversed(tables):
                c.execute(f'DELETE FROM {table}')
            for table, columns, rows in tables:
                if rows:
                    marks = ', '.join(['%s'] * len(columns))
                    c.executemany(f'INSERT INTO {table} ({", ".join(columns)}) VALUES ({marks})', rows)
        finally:
            c.execute('SET SESSION foreign_key_checks = 1')


def local_state():
    return cluster.state_row(create=True)   # created: a promotion writes its epoch into it


def peer_query(address, sql, params=()):
    """Run one statement on a peer's database; its first row (None if it has none). Raises when
    the peer does not answer."""
    conn = cluster.peer_connect(address, timeout=2)
    try:
        c = conn.cursor()
        c.execute(sql, params)
        return c.fetchone()
    finally:
        conn.close()


def peer_row(address, sql, params=()):
    """The first row of a query on a peer's database; None when it has none or does not answer."""
    try:
        return peer_query(address, sql, params)
    except Exception:   # noqa: BLE001 - an unreachable peer says nothing
        return None


def fenced_by(state=None):
    """The address of the primary that replaced this server, if any (this database was fenced, or
    a peer it knows is primary under a newer epoch); None otherwise. Checked at start and, by a
    primary, every heartbeat: a primary cut off from the others finds out here."""
    state = state or local_state()
    if state['primary_at']:
        return json.loads(state['primary_at'])
    own = cluster.own_address()
    for key in set(Server.objects.using('default').exclude(db_address='').values_list('db_address', flat=True)):
        address = json.loads(key)
        if address == own:
            continue
        row = peer_row(address, 'SELECT epoch, primary_at FROM dyn_inventory_state WHERE id = 1')
        if row and row[0] > state['epoch'] and not row[1]:
            return address
    return None


class Coordinator:
    """A server's part in failover, called from its loop every heartbeat."""

    def __init__(self, server, runtime):
        self.server = server
        self.runtime = runtime
        self.timeout = settings.DYNAMO_FAILOVER_TIMEOUT
        self.peers = {}                     # id -> Server row as last seen in the cluster's table
        self.primary_seen = time.monotonic()
        self.last_shadow = 0.
        self.last_said = 0.
        self.epoch = local_state()['epoch']
        self.fences = {}                    # address JSON -> (epoch, primary_at) still to write

    # ------------------------------------------------------------------ every heartbeat
    def beat(self):
        if cluster.is_secondary():
            self._beat_secondary()
        else:
            self._beat_primary()

    def _beat_secondary(self):
        me = self.runtime.server_id
        now = timezone.now()
        # own row, own database: peers judge whether this server is alive from here
        if not Server.objects.using('default').filter(id=me).update(heartbeat=now, seq=self.runtime.inventory.seq):
            Server.objects.using('default').create(id=me, hostname='', pid=0, role='secondary', started=now,
                                                   heartbeat=now, db_address=json.dumps(cluster.own_address()))
        state = local_state()
        if state['primary_at'] and state['epoch'] > self.epoch:
            self.epoch = state['epoch']
            address = json.loads(state['primary_at'])
            log.warning('failover: following the new primary at %s (epoch %d)', address, self.epoch)
            self.server.follow(address)
            self.primary_seen = time.monotonic()
            return
        try:
            rows = list(Server.objects.using(cluster.PRIMARY).all())
            self.peers = {row.id: row for row in rows}
            cutoff = now - timezone.timedelta(seconds=self.timeout)
            if any(row.role == 'primary' and row.heartbeat >= cutoff and row.state == ServerState.ONLINE
                   for row in rows):
                self.primary_seen = time.monotonic()
            if time.monotonic() - self.last_shadow > SHADOW_INTERVAL:
                shadow_copy()
                self.last_shadow = time.monotonic()
        except Exception as exc:   # noqa: BLE001 - the primary's database may be what failed
            connections[cluster.PRIMARY].close()
            self._say(f'the primary database does not answer: {str(exc).splitlines()[0][:150]}')
        silent = time.monotonic() - self.primary_seen
        if silent > self.timeout:
            self._elect(silent)

    def _beat_primary(self):
        state = local_state()
        address = json.loads(state['primary_at']) if state['primary_at'] else fenced_by(state)
        if address is not None:
            log.error('fenced: a newer primary (epoch %d, %s) replaced this server; rejoining as a secondary',
                      state['epoch'], address)
            self.epoch = state['epoch']
            self.server.follow(address)
            return
        self._write_fences()

    def _say(self, text):
        if time.monotonic() - self.last_said > 5:
            log.warning(text)
            self.last_said = time.monotonic()

    # ------------------------------------------------------------------ the election
    def _live_secondaries(self):
        me = self.runtime.server_id
        live = {me}
        cutoff = timezone.now() - timezone.timedelta(seconds=self.timeout)
        for peer in self.peers.values():
            if peer.id == me or peer.role != 'secondary' or not peer.db_address:
                continue
            row = peer_row(json.loads(peer.db_address), 'SELECT heartbeat FROM dyn_servers WHERE id = %s', (peer.id,))
            heartbeat = row[0] if row else None   # unreachable or no heartbeat: not a candidate
            if heartbeat is not None and timezone.is_naive(heartbeat):
                heartbeat = heartbeat.replace(tzinfo=datetime.timezone.utc)
            if heartbeat is not None and heartbeat >= cutoff:
                live.add(peer.id)
        return live

    def _elect(self, silent):
        live = self._live_secondaries()
        winner = min(live)
        if winner != self.runtime.server_id:
            self._say(f'the primary is silent for {silent:.0f} s: server {winner} is to take over')
            return
        self._promote(live)

    def _promote(self, live):
        me = self.runtime.server_id
        log.warning('failover: the primary is silent for more than %.0f s; this server (%d) takes over', self.timeout, me)
        inventory = self.runtime.inventory
        try:   # what the old primary committed and this server did not replay yet, if its database answers
            self.server.follower.catch_up(inventory)
        except Exception as exc:   # noqa: BLE001
            log.warning('failover: the old primary\'s log is out of reach (%s)', str(exc).splitlines()[0][:150])
        epochs = [local_state()['epoch']]
        for peer in self.peers.values():
            if peer.id == me or not peer.db_address:
                continue
            row = peer_row(json.loads(peer.db_address), 'SELECT epoch FROM dyn_inventory_state WHERE id = 1')
            if row:
                epochs.append(row[0])
        epoch = max(epochs) + 1
        old_primaries = [p.id for p in self.peers.values() if p.role == 'primary']
        gone = [p.id for p in self.peers.values() if p.id not in live]
        connections[cluster.PRIMARY].close()
        cluster.become_primary()
        with transaction.atomic(using='default'):
            InventoryState.objects.using('default').filter(id=1).update(epoch=epoch, primary_at='', writer='',
                                                                       writer_expires=None)
            Server.objects.using('default').filter(id__in=old_primaries).update(
                role='secondary', state=ServerState.GONE, detail=f'replaced by server {me} (epoch {epoch})')
            Server.objects.using('default').filter(id=me).update(role='primary', epoch=epoch, state=ServerState.ONLINE,
                                                                 heartbeat=timezone.now(), detail='')
            taken = Application.objects.filter(server_id__in=gone, state=AppState.NEW).update(
                server_id=me, hostname=self.server.record.hostname)
            Application.objects.filter(server_id__in=gone, state__in=[AppState.ASSIGNED, AppState.RUN]).update(
                state=AppState.KILLED, message='its server died (failover)', finished=timezone.now())
            ChangeRequest.objects.filter(state=RequestState.RUNNING).update(
                state=RequestState.FAILED, finished=timezone.now(),
                message='interrupted by failover: see the change-set log for whether it was applied')
        self.epoch = epoch
        self.server.became_primary()
        address = json.dumps(cluster.own_address())
        for peer in self.peers.values():
            if peer.id != me and peer.db_address:
                self.fences[peer.db_address] = (epoch, address)
        self._write_fences()
        log.warning('failover: server %d is the primary now (epoch %d, change set %d, digest %s); '
                    '%d queued applications taken over', me, epoch, inventory.seq, inventory.digest[:12], taken,
                    extra={'epoch': epoch, 'seq': inventory.seq})

    def _write_fences(self):
        """Write the new epoch and this primary's address into every database not reached yet."""
        for key, (epoch, primary_at) in list(self.fences.items()):
            try:
                peer_query(json.loads(key), 'UPDATE dyn_inventory_state SET epoch = %s, primary_at = %s '
                                            'WHERE id = 1 AND epoch < %s', (epoch, primary_at, epoch))
                del self.fences[key]
                log.info('fenced the database %s (epoch %d)', key, epoch)
            except Exception:   # noqa: BLE001 - unreachable now: tried again on the next heartbeat
                pass
