"""The local application socket: `manage.py dynamo` talks to the server here.

A Unix socket, so the server learns who is calling from the kernel (SO_PEERCRED): the submitting
user is the login of the connecting process, and nobody can submit as someone else. Output of
synchronous runs is streamed back as it is produced.
"""
import base64
import json
import logging
import os
import pwd
import queue
import socket
import struct
import threading

from django.db import connection
from django.utils import timezone

from execution import authorization, services
from execution.models import Application, AppState

log = logging.getLogger('dynamo.apps')


# ---------------------------------------------------------------------------- framing
def send_msg(sock, obj, fds=None):
    data = json.dumps(obj).encode()
    frame = struct.pack('!I', len(data)) + data
    if fds:
        socket.send_fds(sock, [frame], fds)
    else:
        sock.sendall(frame)


class Reader:
    """Reads length-prefixed JSON messages, collecting file descriptors passed along."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b''
        self.fds = []

    def _fill(self):
        data, fds, _, _ = socket.recv_fds(self.sock, 65536, 3)
        self.fds.extend(fds)
        if not data:
            raise EOFError
        self.buf += data

    def recv(self):
        while len(self.buf) < 4:
            self._fill()
        (size,) = struct.unpack('!I', self.buf[:4])
        while len(self.buf) < 4 + size:
            self._fill()
        data, self.buf = self.buf[4:4 + size], self.buf[4 + size:]
        return json.loads(data)


# ---------------------------------------------------------------------------- live output
class Hub:
    """Live output of running applications to the clients waiting for them."""

    def __init__(self):
        self.lock = threading.Lock()
        self._subs = {}

    def subscribe_locked(self, app_id):
        q = queue.Queue()
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


def app_record(app):
    return {'id': app.id, 'title': app.title, 'user': app.user.username, 'args': app.args,
            'script': app.script_path, 'write_request': app.write_request, 'state': app.state,
            'exit_code': app.exit_code, 'message': app.message, 'server': app.hostname,
            'created': _iso(app.created), 'started': _iso(app.started), 'finished': _iso(app.finished),
            'seq': app.seq, 'num_changes': app.num_changes}


def kill_application(app_id, message, hub):
    """Mark an application killed; the server running it stops the child. Returns False if it
    had already ended."""
    queued = Application.objects.filter(id=app_id, state=AppState.NEW).update(
        state=AppState.KILLED, message=message, finished=timezone.now())
    if queued:
        hub.publish(app_id, 'final', {'state': 'killed', 'exit_code': None, 'message': message})
        return True
    return bool(Application.objects.filter(id=app_id, state__in=[AppState.ASSIGNED, AppState.RUN])
                .update(state=AppState.KILLED, message=message))


def _iso(t):
    return t.isoformat() if t else None


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
    def __init__(self, *, path, server, hub, scheduler, wake):
        self.path = path
        self.server = server
        self.hub = hub
        self.scheduler = scheduler
        self.wake = wake
        self.sock = None
        self.stopping = threading.Event()

    def start(self):
        if os.path.exists(self.path):
            probe = socket.socket(socket.AF_UNIX)
            try:
                probe.connect(self.path)
                probe.close()
                raise OSError(f'another server is listening on {self.path}')
            except ConnectionRefusedError:
                os.unlink(self.path)
            finally:
                probe.close()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)   # any local user may connect; the kernel tells us who they are
        self.sock.listen(64)
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
            handler(conn, reader, msg, authorization.user_for_login(login), uid)
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
    def _create(self, user, script=None, **fields):
        return services.application_create(user=user, server_id=self.server.id, hostname=self.server.hostname,
                                           script=script, **fields)

    def _cmd_submit(self, conn, reader, msg, user, uid):
        try:
            script = base64.b64decode(msg['script'])
        except (KeyError, ValueError, TypeError):
            send_msg(conn, {'error': 'the script content is missing or not base64'})
            return
        timeout = msg.get('timeout')
        with self.hub.lock:
            app = self._create(user, script, title=str(msg.get('title') or 'DynamoExecutable'),
                               script_path=str(msg.get('script_path', '')), args=str(msg.get('args', '')),
                               write=bool(msg.get('write')), timeout=timeout)
            q = None if msg.get('async') else self.hub.subscribe_locked(app.id)
        log.info('application %d submitted by %s: %s %s', app.id, user.username, app.script_path, app.args)
        send_msg(conn, {'id': app.id, 'work_dir': app.work_dir})
        self.wake.set()
        if q is not None:
            self._stream(conn, reader, app.id, q)

    def _cmd_interact(self, conn, reader, msg, user, uid):
        if len(reader.fds) != 3:
            send_msg(conn, {'error': 'an interactive session needs the terminal (stdin, stdout, stderr)'})
            return
        with self.hub.lock:
            app = self._create(user, title='interactive', interactive=True, timeout=0)
            self.scheduler.interactive_fds[app.id] = tuple(reader.fds)
            reader.fds = []
            q = self.hub.subscribe_locked(app.id)
        send_msg(conn, {'id': app.id})
        self.wake.set()
        self._stream(conn, reader, app.id, q)

    def _stream(self, conn, reader, app_id, q):
        """Forward output and the final state; a client message {"signal": "INT"} interrupts the app."""
        def listen():
            try:
                while True:
                    m = reader.recv()
                    if m.get('signal') == 'INT':
                        self.scheduler.pending_interrupts.append(app_id)
                        self.wake.set()
                    elif m.get('cmd') == 'kill':
                        kill_application(app_id, 'killed by the client', self.hub)
                        self.wake.set()
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

    def _cmd_poll(self, conn, reader, msg, user, uid):
        app = Application.objects.select_related('user').filter(id=msg.get('id')).first()
        send_msg(conn, {'app': app_record(app)} if app else {'error': f'no application {msg.get("id")}'})

    def _cmd_kill(self, conn, reader, msg, user, uid):
        app = Application.objects.select_related('user').filter(id=msg.get('id')).first()
        if app is None:
            send_msg(conn, {'error': f'no application {msg.get("id")}'})
            return
        if app.user_id != user.id and not (user.is_superuser or uid == 0):
            send_msg(conn, {'error': f'application {app.id} belongs to {app.user.username}'})
            return
        changed = kill_application(app.id, f'killed by {user.username}', self.hub)
        self.wake.set()
        send_msg(conn, {'result': 'killed' if changed else 'noaction', 'state': app.state if not changed else 'killed'})
