"""Client of the application socket (used by `manage.py dynamo`): submit, stream, poll, kill,
interactive console. Talks to the local server only through its Unix socket."""
import base64
import os
import signal
import socket
import sys

from execution.protocol import Reader, send_msg


class ClientError(Exception):
    pass


def socket_path(default, *, explicit, servers_dir):
    """The socket to talk to: `default` (the configured or derived one); when it is absent and
    nothing was asked for explicitly, the only server running from this checkout, if just one is."""
    if explicit or os.path.exists(default):
        return default
    try:
        found = [str(p / 'dynamo.sock') for p in servers_dir.iterdir() if (p / 'dynamo.sock').exists()]
    except OSError:
        found = []
    return found[0] if len(found) == 1 else default


class Client:
    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise ClientError(f'no Dynamo server is running here (no socket at {path}); '
                              f'start one with "python manage.py runserver_dynamo"') from None
        self.reader = Reader(self.sock)

    def request(self, msg, fds=None):
        send_msg(self.sock, msg, fds)
        reply = self.reader.recv()
        if 'error' in reply:
            raise ClientError(reply['error'])
        return reply

    def stream(self, app_id, out=sys.stdout, err=sys.stderr, interactive=False, follow_only=False):
        """Print the application's output until it ends; returns the final record. Ctrl-C kills
        the application (twice: leaves it running); only following it, Ctrl-C just stops."""
        interrupted = []

        def on_sigint(*_):
            if interactive:
                send_msg(self.sock, {'signal': 'INT'})
                return
            if follow_only:
                raise KeyboardInterrupt
            if not interrupted:
                interrupted.append(True)
                err.write(f'\n[dynamo] killing application {app_id} (Ctrl-C again to leave it running)\n')
                send_msg(self.sock, {'cmd': 'kill'})
            else:
                raise KeyboardInterrupt
        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            while True:
                try:
                    msg = self.reader.recv()
                except EOFError:
                    raise ClientError('the server closed the connection (did it stop?)') from None
                if 'out' in msg:
                    out.write(msg['out'])
                    out.flush()
                elif 'err' in msg:
                    err.write(msg['err'])
                    err.flush()
                elif 'final' in msg:
                    return msg['final']
                elif 'error' in msg:
                    raise ClientError(msg['error'])
        finally:
            signal.signal(signal.SIGINT, previous)


def exit_code_of(final):
    """The shell convention: the script's code, 128+N when killed by signal N, 1 if it never ran."""
    code = final.get('exit_code')
    if code is None:
        return 137 if final.get('state') == 'killed' else 1
    return 128 - code if code < 0 else code


def submit(*, socket_path, command, title, write, asynchronous, timeout):
    import shlex
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ClientError(f'cannot parse the command {command!r}: {exc}') from None
    if not words:
        raise ClientError('no script given')
    script_path = words[0]
    try:
        with open(script_path, 'rb') as f:
            script = f.read()
    except OSError as exc:
        raise ClientError(f'cannot read the script {script_path}: {exc.strerror}') from None
    client = Client(socket_path)
    reply = client.request({'cmd': 'submit', 'script': base64.b64encode(script).decode(),
                            'script_path': os.path.abspath(script_path), 'args': shlex.join(words[1:]),
                            'title': title, 'write': write, 'async': asynchronous, 'timeout': timeout})
    if asynchronous:
        return reply['id'], None
    return reply['id'], client.stream(reply['id'])


def run_builtin(*, socket_path, name, params, asynchronous=False, timeout=None, out=sys.stdout, err=sys.stderr):
    """Start the built-in cycle `name` with `params`; (id, final state, its record) when waited for,
    (id, None, None) with asynchronous."""
    client = Client(socket_path)
    reply = client.request({'cmd': 'builtin', 'name': name, 'params': params, 'async': asynchronous,
                            'timeout': timeout})
    if asynchronous:
        return reply['id'], None, None
    final = client.stream(reply['id'], out=out, err=err)
    return reply['id'], final, poll(socket_path=socket_path, app_id=reply['id'])


def interact(*, socket_path):
    client = Client(socket_path)
    reply = client.request({'cmd': 'interact'}, fds=[0, 1, 2])
    return reply['id'], client.stream(reply['id'], interactive=True)


def poll(*, socket_path, app_id):
    return Client(socket_path).request({'cmd': 'poll', 'id': app_id})['app']


def output(*, socket_path, app_id, follow=False):
    """Print an application's output (and, following, what it writes until it ends); the final record."""
    client = Client(socket_path)
    send_msg(client.sock, {'cmd': 'output', 'id': app_id, 'follow': follow})
    return client.stream(app_id, follow_only=True)


def kill(*, socket_path, app_id):
    return Client(socket_path).request({'cmd': 'kill', 'id': app_id})
