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

from execution.models import Server, ServerState
from execution.routers import cluster_models
from execution.services import applications, requests
from execution.topology import DEFAULT, PRIMARY, TOPOLOGY
from inventory.models import InventoryState

log = logging.getLogger('dynamo.failover')

SHADOW_INTERVAL = 5.0


def shadow_copy():
    """Copy the cluster's tables (execution.routers.cluster_models) into this server's own
    database, in one transaction."""
    tables = []
    with connections[PRIMARY].cursor() as source:
        for model in cluster_models():
            # raw rows, as the database holds them (no field conversions: JSON stays text)
            columns = [f.column for f in model._meta.concrete_fields]
            source.execute(f'SELECT {", ".join(f"`{column}`" for column in columns)} FROM `{model._meta.db_table}`')
            tables.append((model._meta.db_table, columns, source.fetchall()))
    with transaction.atomic(using=DEFAULT), connections[DEFAULT].cursor() as c:
        c.execute('SET SESSION foreign_key_checks = 0')
        try:
            for table, _, _ in reversed(tables):
                c.execute(f'DELETE FROM `{table}`')
            for table, columns, rows in tables:
                if rows:   # (names quoted: a model may name a column `by` or `index`)
                    marks = ', '.join(['%s'] * len(columns))
                    names = ', '.join(f'`{column}`' for column in columns)
                    c.executemany(f'INSERT INTO `{table}` ({names}) VALUES ({marks})', rows)
        finally:
            c.execute('SET SESSION foreign_key_checks = 1')


def choose_winner(me, live):
    """The server that takes over: the lowest id among the live secondaries (every secondary
    computes the same answer from the same heartbeats)."""
    return min(set(live) | {me})


def primary_silence(last_heartbeat, now=None):
    """Seconds since the primary's last heartbeat (its own timestamp, as last read)."""
    now = now or timezone.now()
    return max(0., (now - last_heartbeat).total_seconds())


def _local_state():
    InventoryState.objects.using(DEFAULT).get_or_create(id=1)   # a promotion writes its epoch into it
    return TOPOLOGY.state_row()


class Coordinator:
    """A server's part in failover, called from its loop every heartbeat. `server` is the
    DynamoServer (its follow() and became_primary() change the role of the whole process)."""

    def __init__(self, server, runtime):
        self.server = server
        self.runtime = runtime
        self.timeout = settings.DYNAMO_FAILOVER_TIMEOUT
        self.peers = {}                     # id -> Server row as last seen in the cluster's table
        # the primary's last heartbeat as read from the cluster's table: silence is its age, so a
        # takeover comes `timeout` after the primary's last beat, not after this server noticed
        # (until it is first read, this server's start counts as the last sign of life)
        self.primary_heartbeat = timezone.now()
        self.last_shadow = 0.
        self.last_said = 0.
        self.epoch = _local_state()['epoch']
        self.fences = {}                    # address JSON -> (epoch, primary_at) still to write

    # ------------------------------------------------------------------ every heartbeat
    def beat(self):
        if TOPOLOGY.is_secondary:
            self._beat_secondary()
        else:
            self._beat_primary()

    def _beat_secondary(self):
        me = TOPOLOGY.server_id
        now = timezone.now()
        # own row, own database: peers judge whether this server is alive from here
        if not Server.objects.using(DEFAULT).filter(id=me).update(heartbeat=now, seq=self.runtime.inventory.seq):
            Server.objects.using(DEFAULT).create(id=me, hostname='', pid=0, role='secondary', started=now,
                                                 heartbeat=now, db_address=json.dumps(TOPOLOGY.own_address()))
        state = _local_state()
        if state['primary_at'] and state['epoch'] > self.epoch:
            self.epoch = state['epoch']
            address = json.loads(state['primary_at'])
            log.warning('failover: following the new primary at %s (epoch %d)', address, self.epoch)
            self.server.follow(address)
            self.primary_heartbeat = timezone.now()
            return
        try:
            rows = list(Server.objects.all())   # the cluster's table, in the primary's database
            self.peers = {row.id: row for row in rows}
            beats = [row.heartbeat for row in rows if row.role == 'primary' and row.state == ServerState.ONLINE]
            if beats:
                self.primary_heartbeat = max(beats)
            if time.monotonic() - self.last_shadow > SHADOW_INTERVAL:
                shadow_copy()
                self.last_shadow = time.monotonic()
        except Exception as exc:   # noqa: BLE001 - the primary's database may be what failed
            connections[PRIMARY].close()
            self._say(f'the primary database does not answer: {str(exc).splitlines()[0][:150]}')
        silent = primary_silence(self.primary_heartbeat)
        if silent > self.timeout:
            self._elect(silent)

    def _beat_primary(self):
        state = _local_state()
        address = json.loads(state['primary_at']) if state['primary_at'] else TOPOLOGY.fenced_by(state)
        if address is not None:
            self.epoch = _local_state()['epoch']   # (fenced_by may just have fenced this database)
            log.error('fenced: a newer primary (epoch %d, %s) replaced this server; rejoining as a secondary',
                      self.epoch, address)
            self.server.follow(address)
            self.primary_heartbeat = timezone.now()   # the new primary counts as alive from here
            return
        self._write_fences()

    def _say(self, text):
        if time.monotonic() - self.last_said > 5:
            log.warning(text)
            self.last_said = time.monotonic()

    # ------------------------------------------------------------------ the election
    def _live_secondaries(self):
        me = TOPOLOGY.server_id
        live = {me}
        cutoff = timezone.now() - timezone.timedelta(seconds=self.timeout)
        for peer in self.peers.values():
            if peer.id == me or peer.role != 'secondary' or not peer.db_address:
                continue
            row = TOPOLOGY.peer_row(json.loads(peer.db_address), 'SELECT heartbeat FROM dyn_servers WHERE id = %s',
                                    (peer.id,))
            heartbeat = row[0] if row else None   # unreachable or no heartbeat: not a candidate
            if heartbeat is not None and timezone.is_naive(heartbeat):
                heartbeat = heartbeat.replace(tzinfo=datetime.timezone.utc)
            if heartbeat is not None and heartbeat >= cutoff:
                live.add(peer.id)
        return live

    def _elect(self, silent):
        live = self._live_secondaries()
        winner = choose_winner(TOPOLOGY.server_id, live)
        if winner != TOPOLOGY.server_id:
            self._say(f'the primary is silent for {silent:.0f} s: server {winner} is to take over')
            return
        self._promote(live)

    def _promote(self, live):
        me = TOPOLOGY.server_id
        log.warning('failover: the primary is silent for more than %.0f s; this server (%d) takes over', self.timeout, me)
        inventory = self.runtime.inventory
        try:   # what the old primary committed and this server did not replay yet, if its database answers
            self.server.follower.catch_up(inventory)
        except Exception as exc:   # noqa: BLE001
            log.warning('failover: the old primary\'s log is out of reach (%s)', str(exc).splitlines()[0][:150])
        epochs = [_local_state()['epoch']]
        for peer in self.peers.values():
            if peer.id == me or not peer.db_address:
                continue
            row = TOPOLOGY.peer_row(json.loads(peer.db_address), 'SELECT epoch FROM dyn_inventory_state WHERE id = 1')
            if row:
                epochs.append(row[0])
        epoch = max(epochs) + 1
        old_primaries = [p.id for p in self.peers.values() if p.role == 'primary']
        gone = [p.id for p in self.peers.values() if p.id not in live]
        TOPOLOGY.become_primary()   # from here on the cluster's tables are this server's own shadows
        with transaction.atomic(using=DEFAULT):
            InventoryState.objects.using(DEFAULT).filter(id=1).update(epoch=epoch, primary_at='', writer='',
                                                                     writer_expires=None)
            Server.objects.filter(id__in=old_primaries).update(
                role='secondary', state=ServerState.GONE, detail=f'replaced by server {me} (epoch {epoch})')
            Server.objects.filter(id=me).update(role='primary', epoch=epoch, state=ServerState.ONLINE,
                                                heartbeat=timezone.now(), detail='')
            taken = applications.applications_take_over(from_server_ids=gone, to_server_id=me,
                                                        hostname=self.server.record.hostname)
            applications.applications_recover(server_ids=gone, reason='its server died (failover)')
            requests.requests_interrupted(
                message='interrupted by failover: see the change-set log for whether it was applied')
        self.epoch = epoch
        self.server.became_primary()
        address = json.dumps(TOPOLOGY.own_address())
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
                TOPOLOGY.peer_query(json.loads(key), 'UPDATE dyn_inventory_state SET epoch = %s, primary_at = %s '
                                                     'WHERE id = 1 AND epoch < %s', (epoch, primary_at, epoch))
                del self.fences[key]
                log.info('fenced the database %s (epoch %d)', key, epoch)
            except Exception:   # noqa: BLE001 - unreachable now: tried again on the next heartbeat
                pass
