"""The framing of the application socket (4-byte length, JSON, optional file descriptors).

Pure standard library: the client (`manage.py dynamo`, run by any local user) imports only this
from the server side, never the settings' secrets, the database or the models."""
import json
import socket
import struct


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
