"""An application's output, bounded: the first half of the allowance in one file, the latest
output in two alternating tail files, and a marker saying how much was dropped in between. Read
back as one text in bounded windows. Lives in the server's private directory of the application
(never where the application could rewrite it).
"""
import json
import os

META = 'output.json'
HEAD = 'output.head'
TAILS = ('output.tail0', 'output.tail1')
WINDOW = 1 << 20          # what a reader gets by default: the last MiB
MAX_WINDOW = 4 << 20


def marker(dropped):
    return f'\n[dynamo: {dropped} bytes of output dropped here (more than the output allowance)]\n'.encode()


class BoundedLog:
    """Writer side (the server's relay thread of one application)."""

    def __init__(self, directory, limit_bytes):
        self.directory = directory
        self.half = max(limit_bytes // 2, 4096)
        self.head = open(os.path.join(directory, HEAD), 'wb')
        self.head_size = 0
        self.tail = None
        self.current = 0          # index of the tail file being written
        self.tail_size = 0
        self.dropped = 0          # bytes that are in neither the head nor the tails
        self.total = 0

    def write(self, data):
        self.total += len(data)
        room = self.half - self.head_size
        if room > 0:
            part, data = data[:room], data[room:]
            self.head.write(part)
            self.head.flush()
            self.head_size += len(part)
        while data:
            if self.tail is None:
                self.tail = open(os.path.join(self.directory, TAILS[self.current]), 'wb')
            room = self.half // 2 - self.tail_size
            part, data = data[:room], data[room:]
            self.tail.write(part)
            self.tail.flush()
            self.tail_size += len(part)
            if self.tail_size >= self.half // 2:   # switch: the older tail file is overwritten
                self.tail.close()
                self.current = 1 - self.current
                other = os.path.join(self.directory, TAILS[self.current])
                try:
                    self.dropped += os.path.getsize(other)
                except OSError:
                    pass
                self.tail = open(other, 'wb')
                self.tail_size = 0
                self._save_meta()

    def _save_meta(self):
        path = os.path.join(self.directory, META)
        with open(path + '.new', 'w') as f:
            json.dump({'dropped': self.dropped, 'newest': self.current}, f)
        os.replace(path + '.new', path)

    def close(self):
        self.head.close()
        if self.tail is not None:
            self.tail.close()
        self._save_meta()


def _parts(directory):
    """The pieces of the readable text, in order: (path or bytes, size)."""
    try:
        with open(os.path.join(directory, META)) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        meta = {'dropped': 0, 'newest': 0}
    parts = []

    def add(name):
        path = os.path.join(directory, name)
        try:
            parts.append((path, os.path.getsize(path)))
        except OSError:
            pass
    add(HEAD)
    if meta['dropped']:
        text = marker(meta['dropped'])
        parts.append((text, len(text)))
    newest = meta['newest']
    add(TAILS[1 - newest])
    add(TAILS[newest])
    return parts


def read(directory, offset=None, length=WINDOW):
    """(text, offset, total) of a window of the output: by default its last `length` bytes."""
    parts = _parts(directory)
    total = sum(size for _, size in parts)
    length = max(0, min(length, MAX_WINDOW))
    if offset is None:
        offset = max(0, total - length)
    offset = max(0, min(offset, total))
    out, position = [], 0
    for source, size in parts:
        start, end = max(offset, position), min(offset + length, position + size)
        if start < end:
            if isinstance(source, bytes):
                out.append(source[start - position:end - position])
            else:
                with open(source, 'rb') as f:
                    f.seek(start - position)
                    out.append(f.read(end - start))
        position += size
    return b''.join(out).decode('utf-8', 'replace'), offset, total


def exists(directory):
    return os.path.exists(os.path.join(directory, HEAD))
