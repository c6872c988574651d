"""The Dynamo server: load the RAM image, serve HTTP from it, run applications, and apply queued
writes in order, one turn() at a time.

It does not parse arguments or install signal handlers (the command does), and it never lets a
bad request, a failing application or a database hiccup take the process down.
"""
import gc
import logging
import queue
import sys
import threading
import time

from django.conf import settings
from django.db import OperationalError, close_old_connections, connection

from execution import selectors
from execution.appserver import AppServer, Hub
from execution.cluster import join
from execution.cluster.failover import Coordinator
from execution.cluster.follow import Follower
from execution.cluster.forward import forward_write
from execution.cluster.lease import lease_acquire, lease_holder, lease_release, lease_release_dead
from execution.dbaccess import readonly_settings
from execution.http import HttpServer
from execution.metrics import METRICS
from execution.models import ServerState
from execution.runtime import RUNTIME
from execution.scheduler import Scheduler
from execution.services import applications, requests, servers
from execution.topology import TOPOLOGY, lease_owner, server_paths
from inventory import services as inventory_services
from inventory import store
from inventory.objects import ObjectError

log = logging.getLogger('dynamo.server')
HOUSEKEEPING_INTERVAL = 5.0


class DynamoServer:
    def __init__(self, *, bind, stop_event=None, force_stop=None, poll_interval=0.1, heartbeat_interval=2.0):
        self.bind = bind
        self.stop_event = stop_event or threading.Event()
        self.force_stop = force_stop or threading.Event()
        self._waiting_said = 0.
        self._trouble_said = 0.
        self.wake = threading.Event()
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.socket_path, self.work_base = server_paths(bind)
        self.http = None
        self.apps = None
        self.scheduler = None
        self.record = None
        self.follower = None     # a secondary's replay of the primary's log
        self.coordinator = None  # failover (MariaDB clusters)
        self._last_beat = 0.
        self._beat_ok = True
        self._last_housekeeping = 0.

    @property
    def secondary(self):
        return TOPOLOGY.is_secondary

    # ------------------------------------------------------------------ life
    def run(self):
        # hand the interpreter lock around more often than the default 5 ms, so that web threads
        # are not held up for long by a change set being applied in this thread
        sys.setswitchinterval(0.0005)
        try:
            if not self.start():
                return
            while not (self.stop_event.is_set() and self._may_stop()):
                if not self.turn():
                    self.wake.wait(settings.DYNAMO_SYNC_INTERVAL if self.secondary else self.poll_interval)
                    self.wake.clear()
        finally:
            self.shutdown()

    def start(self, *, serve=True):
        """Register, load the image and get ready to take turns; `serve=False` (tests) starts no
        HTTP server and no application socket. False if stopped while waiting for the primary."""
        TOPOLOGY.bind = self.bind
        inventory_services.add_observer(METRICS.changeset_applied)
        if self.secondary and not join.wait_for_primary(self.stop_event, lambda text: log.info(text)):
            return False
        if serve:
            self.apps = AppServer(path=self.socket_path, work_base=self.work_base, server=None, hub=None,
                                  scheduler=None, wake=self.wake)
            self.apps.claim()   # a second server on this address is refused before it registers
        self.record = self._register()
        TOPOLOGY.server_id = self.record.id
        self._recover()   # a server that crashed before this start: its lease, its applications
        if serve:
            host, _, port = self.bind.rpartition(':')
            self.http = HttpServer(host or '127.0.0.1', int(port), certificate=settings.DYNAMO_WEB_SSL_CERT,
                                   key=settings.DYNAMO_WEB_SSL_KEY, client_ca=settings.DYNAMO_WEB_SSL_CA)
            self.http.start()
            log.info('serving on %s://%s (inventory loading)', self.http.scheme, self.bind)
        self._load()
        # web writes are taken from now on: the image is served (reads answer), and a write queued
        # before the loop's first turn waits for it instead of being refused while the server starts
        RUNTIME.executor_active = True
        hub = Hub()
        self.scheduler = Scheduler(server_id=self.record.id, runtime=RUNTIME, hub=hub,
                                   readonly_db=readonly_settings())
        if self.secondary:
            self.scheduler.before_write = lambda: self.follower.catch_up(RUNTIME.inventory)
        if TOPOLOGY.clustered:
            self.coordinator = Coordinator(self, RUNTIME)
        if serve:
            self.apps.server, self.apps.hub, self.apps.scheduler = self.record, hub, self.scheduler
            self.apps.start()
        RUNTIME.wake = self.wake
        RUNTIME.hub = hub
        servers.server_heartbeat(server_id=self.record.id, state=ServerState.ONLINE,
                                 seq=RUNTIME.inventory.seq, digest=RUNTIME.inventory.digest, detail='')
        log.info('server online (%s) at seq %d', TOPOLOGY.role, RUNTIME.inventory.seq)
        return True

    def shutdown(self):
        log.info('shutting down')
        RUNTIME.executor_active = False
        if self.apps is not None:
            self.apps.stop()
        if self.scheduler is not None:
            self.scheduler.shutdown()
        if self.http is not None:
            self.http.stop()
        if self.record is not None:
            try:
                servers.server_unregister(server_id=self.record.id)
            except Exception:  # the database may be what failed
                log.warning('could not unregister server %s', self.record.id)

    def _register(self):
        epoch = TOPOLOGY.state_row()['epoch'] if TOPOLOGY.clustered else 0
        return servers.server_register(bind=self.bind, role=TOPOLOGY.role, epoch=epoch)

    @property
    def _lease(self):
        """The writer-lease name of this server's own writes (queued and web writes it applies)."""
        return lease_owner(server_id=self.record.id, what='write')

    # ------------------------------------------------------------------ one turn
    def turn(self):
        """One step of the loop: heartbeat when due, start and reap applications, replay (a
        secondary) or apply queued writes (the primary), housekeeping when due. Returns True if
        anything happened (the loop then turns again at once)."""
        busy = False
        try:
            self._beat_if_due()
            busy = self.scheduler.poll()
            if self.secondary:
                busy = self._follow() or busy
            elif not self.scheduler.writer_running:   # a write application holds the write lock
                busy = self._process_web_write() or busy
                busy = self._process_one() or busy
                if not busy and store.current_seq() != RUNTIME.inventory.seq:
                    with RUNTIME.lock.write():
                        inventory_services.catch_up(RUNTIME.inventory)
            self._housekeeping_if_due()
        except inventory_services.ImageLost:
            log.error('RAM image lost after a failed change set; reloading')
            self._load()
        except OperationalError as exc:   # a database out of reach: said once in a while, not a traceback each time
            self._database_trouble(exc)
            close_old_connections()
            connection.close()
            self.stop_event.wait(1.0)
        except Exception:
            log.exception('server loop error (retrying)')
            close_old_connections()
            connection.close()
            self.stop_event.wait(1.0)
        return busy

    def _beat_if_due(self):
        now = time.monotonic()
        if now - self._last_beat <= self.heartbeat_interval and self._beat_ok:
            return
        # a primary writes nothing until a heartbeat went through: after its database was out of
        # reach, the beat is where it finds out that a failover replaced it
        self._last_beat = now
        self._beat_ok = False
        if self.coordinator is not None:
            self.coordinator.beat()
        if not servers.server_heartbeat(server_id=self.record.id, state=ServerState.ONLINE,
                                        seq=RUNTIME.inventory.seq, digest=RUNTIME.inventory.digest):
            log.warning('this server\'s row was removed from the server table; registering again')
            self.record = self._register()
            TOPOLOGY.server_id = self.scheduler.server_id = self.record.id
        METRICS.observe_image(RUNTIME.inventory, self.follower)
        self._beat_ok = True

    def _housekeeping_if_due(self):
        now = time.monotonic()
        if self.secondary or now - self._last_housekeeping < HOUSEKEEPING_INTERVAL:
            return
        self._last_housekeeping = now
        self._recover()

    def _recover(self):
        """The truth about servers that died: they are shown dead, the writer lease of a dead
        holder is released at once, and their applications are recorded as they ended."""
        servers.servers_mark_dead(exclude=[self.record.id])
        lease_release_dead()
        alive = [s.id for s in selectors.live_servers()] + [self.record.id]
        orphaned = applications.applications_orphaned(alive_server_ids=alive)
        if orphaned:
            applications.applications_recover(server_ids=orphaned, reason='its server stopped or crashed')

    # ------------------------------------------------------------------ failover (cluster/failover.py)
    def follow(self, address):
        """Follow the primary at `address` from now on (a newer primary took over)."""
        was_primary = not self.secondary
        TOPOLOGY.follow(address)
        if not servers.server_heartbeat(server_id=self.record.id, role='secondary', state=ServerState.SYNCING,
                                        detail='rejoining'):
            self.record = self._register()
            TOPOLOGY.server_id = self.scheduler.server_id = self.record.id
        if was_primary:
            self._load()   # this store may hold change sets the new primary never had: resynchronize
        else:
            self.follower.primary_seq = 0
        self.scheduler.before_write = lambda: self.follower.catch_up(RUNTIME.inventory)
        servers.server_heartbeat(server_id=self.record.id, state=ServerState.ONLINE, seq=RUNTIME.inventory.seq,
                                 digest=RUNTIME.inventory.digest, detail='')

    def became_primary(self):
        self.follower = RUNTIME.follower = None
        self.scheduler.before_write = None
        self.wake.set()

    def _say(self, text, state=None):
        log.info(text)
        try:
            servers.server_heartbeat(server_id=self.record.id, state=state, detail=text)
        except Exception:   # noqa: BLE001 - the status line is best effort
            pass

    def _load(self):
        start = time.monotonic()
        if self.secondary:
            self._say('joining the cluster', ServerState.SYNCING)
            inventory = join.load_image(self._say)
            self.follower = RUNTIME.follower = Follower(RUNTIME)
            self._say(f'catching up from change set {inventory.seq}')
            self.follower.catch_up(inventory)   # before the image is served
        else:
            servers.server_heartbeat(server_id=self.record.id, state=ServerState.LOADING)
            inventory, seq = store.load()
            inventory.seq = seq
        with RUNTIME.lock.write():
            replaced = RUNTIME.inventory is not None
            RUNTIME.inventory = inventory
        if replaced:
            gc.unfreeze()   # the old image (cycles included) can go now
        gc.collect()
        gc.freeze()   # forked applications then do not copy the image's pages for GC bookkeeping
        counts = METRICS.observe_load(inventory, time.monotonic() - start)
        log.info('inventory loaded in %.1f s: %d sites, %d groups, %d datasets, %d blocks, %d block replicas (seq %d)',
                 time.monotonic() - start, counts['sites'], counts['groups'], counts['datasets'], counts['blocks'],
                 counts['block_replicas'], inventory.seq)

    def _may_stop(self):
        """Stopping: a primary goes last. While secondaries are online it keeps serving and says
        which it waits for (a second signal stops it anyway: the secondaries then fail over)."""
        if self.secondary or self.force_stop.is_set():
            return True
        try:
            waiting = [s for s in selectors.live_servers() if s.id != self.record.id and s.role == 'secondary']
        except Exception:   # noqa: BLE001 - no cluster database, nobody to wait for
            return True
        if not waiting:
            return True
        now = time.monotonic()
        if now - self._waiting_said > 5:
            self._waiting_said = now
            log.warning('stopping: waiting for the secondary servers to stop first (the primary goes last): %s; '
                        'a second SIGTERM stops now (they will then fail over)',
                        ', '.join(f'{s.id} ({s.hostname} {s.bind})' for s in waiting))
        return False

    def _database_trouble(self, exc):
        now = time.monotonic()
        if now - self._trouble_said > 5:
            self._trouble_said = now
            log.warning('a database does not answer (retrying): %s', str(exc).splitlines()[0][:200])

    # ------------------------------------------------------------------ writes
    def _follow(self):
        """A secondary's turn: forward web writes to the primary, replay what the primary committed."""
        busy = self._process_web_write()
        try:
            applied = self.follower.step()
            METRICS.changesets_replayed(applied)
            busy = applied > 0 or busy
        except inventory_services.OutOfSync as exc:
            log.error('out of sync with the primary: %s; resynchronizing', exc)
            self._load()   # (says `syncing` in the server table)
            servers.server_heartbeat(server_id=self.record.id, state=ServerState.ONLINE,
                                     seq=RUNTIME.inventory.seq, digest=RUNTIME.inventory.digest, detail='')
            busy = True
        return busy

    def _process_web_write(self):
        try:
            job = RUNTIME.write_jobs.get_nowait()
        except queue.Empty:
            return False
        if job.cancelled:
            return True
        if self.secondary:
            return forward_write(RUNTIME, job)
        if not lease_acquire(self._lease):
            RUNTIME.write_jobs.put(job)   # a write application somewhere in the cluster holds the lease
            return False
        try:
            return self._apply_web_write(job)
        finally:
            lease_release(self._lease)

    def _apply_web_write(self, job):
        holder = {}

        def builder(inventory):
            holder['value'] = job.fn(inventory)
        try:
            applied = inventory_services.apply_changeset(inventory=RUNTIME.inventory, origin=job.origin,
                                                         builder=builder, ram_lock=RUNTIME.lock.write)
            job.result = (holder.get('value'), applied)
        except inventory_services.ImageLost as exc:
            job.error = exc
            job.done.set()
            raise
        except BaseException as exc:   # reported to the web caller; nothing was applied
            job.error = exc
        job.done.set()
        return True

    def _process_one(self):
        """Apply the next queued write: any, when the writer lease is free (this server then holds
        it meanwhile); only those its holder sent, when a writer holds it."""
        if not requests.request_pending():
            return False   # the common case: one cheap query, no lease taken
        holder = lease_holder()
        if holder and holder != self._lease:
            request = requests.request_claim_next(lease_holder=holder)
            return request is not None and self._apply_request(request)
        if not lease_acquire(self._lease):
            return False
        try:
            request = requests.request_claim_next()
            return request is not None and self._apply_request(request)
        finally:
            lease_release(self._lease)

    def _apply_request(self, request):
        text = requests.request_payload(request)
        origin = f'{request.kind}:{request.origin}'
        log.info('applying request %d (%s, %d bytes)', request.id, origin, len(text))
        try:
            applied = inventory_services.apply_request(inventory=RUNTIME.inventory, kind=request.kind,
                                                       text=text, origin=origin, ram_lock=RUNTIME.lock.write)
        except ObjectError as exc:
            log.warning('request %d refused: %s', request.id, exc)
            requests.request_finish(request=request, ok=False, message=str(exc))
            return True
        except inventory_services.ImageLost:
            requests.request_finish(request=request, ok=False, message='internal error: change set too large to undo')
            raise
        except Exception as exc:
            log.exception('request %d failed', request.id)
            requests.request_finish(request=request, ok=False, message=f'internal error: {exc}')
            return True
        requests.request_finish(request=request, ok=True, seq=applied.seq,
                                message=f'applied as change set {applied.seq}' if applied.seq else 'nothing to change',
                                result=inventory_services.summarize(applied))
        return True
