"""The local application socket: `manage.py dynamo` talks to the server here.

A Unix socket, so the server learns who is calling from the kernel (SO_PEERCRED): the submitting
user is the login of the connecting process, and nobody can submit as someone else. Output of
synchronous runs is streamed back as it is produced.
"""
import base64
import collections
import logging
import os
import pwd
import queue
import socket
import struct
import threading

from django.conf import settings
from django.db import connection

from accounts.selectors import caller_for_login
from execution import authorization, builtins, confine, selectors
from execution.errors import ClientError
from execution.models import FINAL_APP_STATES
from execution.protocol import Reader, send_msg
from execution.services import applications
from execution.topology import TOPOLOGY

log = logging.getLogger('dynamo.apps')
MAX_SOCKET_PATH = 107   # bytes of a UNIX socket's sun_path, less its terminating NUL


# ---------------------------------------------------------------------------- live output
class Subscription:
    """One client's share of an application's live output, bounded: when the client reads slower
    than the application writes, output beyond `limit` bytes is dropped for it (and said so), the
    server's memory never grows for it. The final state is always delivered."""

    def __init__(self, limit=4 << 20):
        self.cond = threading.Condition()
        self.items = collections.deque()
        self.size = 0
        self.limit = limit
        self.dropped = 0

    def put(self, item):
        kind, payload = item
        with self.cond:
            if kind in ('out', 'err') and self.size + len(payload) > self.limit:
                self.dropped += len(payload)
                return
            if self.dropped and kind in ('out', 'err', 'final'):
                self.items.append(('err', f'\n[dynamo: {self.dropped} characters of output not shown here: '
                                          f'this client read too slowly; the record keeps them]\n'))
                self.dropped = 0
            self.items.append(item)
            self.size += len(payload) if kind in ('out', 'err') else 0
            self.cond.notify()

    def get(self):
        with self.cond:
            while not self.items:
                self.cond.wait()
            kind, payload = self.items.popleft()
            if kind in ('out', 'err'):
                self.size -= len(payload)
            return kind, payload


class Hub:
    """Live output of running applications to the clients waiting for them."""

    def __init__(self):
        self.lock = threading.Lock()
        self._subs = {}

    def subscribe_locked(self, app_id):
        q = Subscription()
        self._subs.setdefault(app_id, []).append(q)
        return q

    def unsubscribe(self, app_id, q):
        with self.lock:
            subs = self._subs.get(app_id, [])
            if q in subs:
                subs.remove(q)
            if not subs:
                self._subs.pop(app_id, None)

    def publish(self, app_id, kind, payload):
        with self.lock:
            for q in self._subs.get(app_id, ()):
                q.put((kind, payload))


class _Workers:
    """Daemon worker threads that outlive one client, so that their database connections are
    reused; a new one is started whenever none is idle (attached clients can wait for hours)."""

    def __init__(self, handle):
        self.handle = handle
        self.queue = queue.Queue()
        self.lock = threading.Lock()
        self.idle = 0

    def submit(self, item):
        with self.lock:
            if self.idle == 0:
                threading.Thread(target=self._work, name='appclient', daemon=True).start()
                self.idle += 1
            self.idle -= 1
        self.queue.put(item)

    def _work(self):
        while True:
            item = self.queue.get()
            try:
                self.handle(item)
            finally:
                with self.lock:
                    self.idle += 1


# ---------------------------------------------------------------------------- server side
class AppServer:
    def __init__(self, *, path, work_base, server, hub, scheduler, wake):
        self.path = path
        self.work_base = work_base
        self.server = server
        self.hub = hub
        self.scheduler = scheduler
        self.wake = wake
        self.sock = None
        self.stopping = threading.Event()

    def claim(self):
        """Bind the socket (before the server registers): a second server on this address is
        refused here, clearly, and a stale socket of a dead server is replaced."""
        if len(os.fsencode(self.path)) > MAX_SOCKET_PATH:
            raise OSError(f'the application socket path {self.path} is longer than the {MAX_SOCKET_PATH} bytes '
                          'a UNIX socket allows: set DYNAMO_APP_SOCKET ([applications] socket) to a shorter path, '
                          'or use a shorter DYNAMO_VAR_DIR')
        os.makedirs(os.path.dirname(self.path) or '.', exist_ok=True)
        if os.path.exists(self.path):
            probe = socket.socket(socket.AF_UNIX)
            try:
                probe.connect(self.path)
                raise OSError(f'another server is listening on {self.path} (same bind address?)')
            except ConnectionRefusedError:
                os.unlink(self.path)
            finally:
                probe.close()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)   # any local user may connect; the kernel tells us who they are
        self.sock.listen(64)

    def start(self):
        threading.Thread(target=self._accept, name='appserver', daemon=True).start()
        log.info('application socket at %s', self.path)

    def stop(self):
        self.stopping.set()
        if self.sock is not None:
            self.sock.close()
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def _accept(self):
        workers = _Workers(self._serve)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            workers.submit(conn)

    def _serve(self, conn):
        reader = None
        try:
            uid = struct.unpack('3i', conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
            try:
                login = pwd.getpwuid(uid).pw_name
            except KeyError:
                login = f'uid{uid}'
            reader = Reader(conn)
            msg = reader.recv()
            handler = getattr(self, f'_cmd_{msg.get("cmd")}', None)
            if handler is None:
                send_msg(conn, {'error': f'unknown command {msg.get("cmd")!r}'})
                return
            caller = caller_for_login(login, uid=uid)
            handler(conn, reader, msg, authorization.user_for_login(login), caller, uid)
        except (EOFError, BrokenPipeError, ConnectionResetError):
            pass
        except Exception:
            log.exception('application socket client failed')
            try:
                send_msg(conn, {'error': 'internal error (see the server log)'})
            except OSError:
                pass
        finally:
            for fd in (reader.fds if reader is not None else ()):
                os.close(fd)
            conn.close()
            connection.close_if_unusable_or_obsolete()

    # ---------------------------------------------------------------- commands
    def _create(self, user, uid, script=None, **fields):
        """Queue an application of the local user `uid`; it runs as that user (root's and the
        server's own as DYNAMO_APP_USER). Raises ClientError when it could not run at all."""
        if self.scheduler.disabled:
            raise ClientError(f'this server does not run applications: {self.scheduler.disabled}')
        try:
            run_as = confine.run_as_for(uid=uid, app_user=settings.DYNAMO_APP_USER)
        except LookupError as exc:
            raise ClientError(str(exc)) from None
        return applications.application_submit(user=user, server_id=self.server.id, hostname=self.server.hostname,
                                               work_base=self.work_base, run_as=run_as, script=script, **fields)

    def _cmd_submit(self, conn, reader, msg, user, caller, uid):
        try:
            script = base64.b64decode(msg['script'])
        except (KeyError, ValueError, TypeError):
            send_msg(conn, {'error': 'the script content is missing or not base64'})
            return
        timeout = msg.get('timeout')
        with self.hub.lock:
            try:
                app = self._create(user, uid, script, title=str(msg.get('title') or 'DynamoExecutable'),
                                   script_path=str(msg.get('script_path', '')), args=str(msg.get('args', '')),
                                   write=bool(msg.get('write')), timeout=timeout)
            except ClientError as exc:
                send_msg(conn, {'error': str(exc)})
                return
            q = None if msg.get('async') else self.hub.subscribe_locked(app.id)
        log.info('application %d submitted by %s: %s %s', app.id, user.username, app.script_path, app.args)
        send_msg(conn, {'id': app.id, 'work_dir': app.work_dir})
        self.wake.set()
        if q is not None:
            self._stream(conn, reader, app.id, q, caller)

    def _cmd_builtin(self, conn, reader, msg, user, caller, uid):
        """Start a built-in cycle (Detox, Dealer, ...): operators and admins of its target only,
        on the primary only; it runs as DYNAMO_APP_USER like a web submission."""
        try:
            builtin = builtins.get(str(msg.get('name')))
        except LookupError as exc:
            send_msg(conn, {'error': str(exc)})
            return
        params = msg.get('params') or {}
        if TOPOLOGY.is_secondary:
            reason = f'built-in cycles run on the primary server ({TOPOLOGY.describe_primary()})'
        elif not applications.may_start_builtin(caller, builtin):
            reason = f'{caller.name} needs the role operator or admin on target {builtin.target} to start {builtin.name}'
        elif self.scheduler.disabled:
            reason = f'this server does not run applications: {self.scheduler.disabled}'
        elif not isinstance(params, dict):
            reason = 'the parameters of a cycle are a JSON object'
        else:
            reason = ''
        if reason:
            send_msg(conn, {'error': reason})
            return
        with self.hub.lock:
            app = applications.application_submit_builtin(
                name=builtin.name, params=params, user=user, server_id=self.server.id,
                hostname=self.server.hostname, work_base=self.work_base, timeout=msg.get('timeout'))
            q = None if msg.get('async') else self.hub.subscribe_locked(app.id)
        log.info('cycle %s submitted as application %d by %s', builtin.name, app.id, user.username,
                 extra={'application': app.id, 'builtin': builtin.name})
        send_msg(conn, {'id': app.id})
        self.wake.set()
        if q is not None:
            self._stream(conn, reader, app.id, q, caller)

    def _cmd_interact(self, conn, reader, msg, user, caller, uid):
        if len(reader.fds) != 3:
            send_msg(conn, {'error': 'an interactive session needs the terminal (stdin, stdout, stderr)'})
            return
        with self.hub.lock:
            try:
                app = self._create(user, uid, title='interactive', interactive=True, timeout=0)
            except ClientError as exc:
                send_msg(conn, {'error': str(exc)})
                return
            self.scheduler.interactive_fds[app.id] = tuple(reader.fds)
            reader.fds = []
            q = self.hub.subscribe_locked(app.id)
        send_msg(conn, {'id': app.id})
        self.wake.set()
        self._stream(conn, reader, app.id, q, caller)

    def _stream(self, conn, reader, app_id, q, caller):
        """Forward output and the final state; a client message {"signal": "INT"} interrupts the app."""
        def listen():
            try:
                while True:
                    m = reader.recv()
                    if m.get('signal') == 'INT':
                        self.scheduler.pending_interrupts.append(app_id)
                        self.wake.set()
                    elif m.get('cmd') == 'kill':
                        self._kill(app_id, caller, 'killed by the client')
            except (EOFError, OSError, ValueError):
                pass
            finally:
                connection.close()
        threading.Thread(target=listen, daemon=True).start()
        try:
            while True:
                kind, payload = q.get()
                if kind == 'out' or kind == 'err':
                    send_msg(conn, {kind: payload})
                elif kind == 'final':
                    send_msg(conn, {'final': payload})
                    return
        finally:
            self.hub.unsubscribe(app_id, q)

    def _kill(self, app_id, caller, reason=None):
        outcome = applications.application_kill(app_id=app_id, by=caller, reason=reason)
        if outcome.killed and outcome.app.state == 'new':
            self.hub.publish(app_id, 'final', {'state': 'killed', 'exit_code': None,
                                               'message': reason or f'killed by {caller.name}'})
        self.wake.set()
        return outcome

    @staticmethod
    def _controlled(conn, msg, caller):
        """The application `msg` names, if `caller` may follow it; else None (said on `conn`)."""
        try:
            app = selectors.application_get(msg.get('id'))
        except ClientError as exc:
            send_msg(conn, {'error': str(exc)})
            return None
        if not applications.may_control(caller, app):
            send_msg(conn, {'error': f'application {app.id} belongs to {app.user.username}: only its owner or an '
                                     f'operator or admin of target application may follow it'})
            return None
        return app

    def _cmd_poll(self, conn, reader, msg, user, caller, uid):
        app = self._controlled(conn, msg, caller)
        if app is not None:
            send_msg(conn, {'app': selectors.application_record(app, caller=caller)})

    def _cmd_output(self, conn, reader, msg, user, caller, uid):
        """The output of an application so far (its owner and operators only); with `follow`,
        then what it writes until it ends."""
        app = self._controlled(conn, msg, caller)
        if app is None:
            return
        with self.hub.lock:   # subscribe before reading what is there: nothing falls between the two
            follow = msg.get('follow') and app.state not in FINAL_APP_STATES
            q = self.hub.subscribe_locked(app.id) if follow else None
        offset, total = 0, None
        while total is None or offset < total:   # what is there, in bounded pieces
            text, offset, total = selectors.application_output(app, offset=offset, length=1 << 20)
            send_msg(conn, {'out': text})
            offset += len(text.encode())
            if not text:
                break
        if q is None:
            app.refresh_from_db()
            send_msg(conn, {'final': {'state': app.state, 'exit_code': app.exit_code, 'message': app.message}})
            return
        self._stream(conn, reader, app.id, q, caller)

    def _cmd_kill(self, conn, reader, msg, user, caller, uid):
        try:
            outcome = self._kill(msg.get('id'), caller)
        except ClientError as exc:
            send_msg(conn, {'error': str(exc)})
            return
        send_msg(conn, {'result': 'killed' if outcome.killed else 'noaction', 'state': outcome.state})
