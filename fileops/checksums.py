"""Checksum values as the inventory keeps them (adler32 as 8 lowercase hex digits) and local computation.

Local computation serves files this process can read (tests, file:// sites) and storage that cannot
compute checksums itself (plain WebDAV); it never replaces a server-side checksum where one exists.
"""
import hashlib
import zlib
from collections.abc import Iterable
from pathlib import Path

DEFAULT_ALGORITHM = 'adler32'
_HEX_WIDTH = {'adler32': 8, 'crc32': 8, 'md5': 32, 'sha1': 40}


def normalize_checksum(algorithm: str, value: str) -> tuple[str, str]:
    """('ADLER32', '0x1a2b') -> ('adler32', '00001a2b'): one spelling so values compare as strings."""
    algorithm = algorithm.lower()
    value = value.strip().lower()
    if value.startswith('0x'):
        value = value[2:]
    width = _HEX_WIDTH.get(algorithm)
    if width:
        value = value.rjust(width, '0')
    return algorithm, value


def parse_checksum(text: str, default_algorithm: str = DEFAULT_ALGORITHM) -> tuple[str, str]:
    """'adler32:1a2b3c4d' or a bare '1a2b3c4d' (taken as the default algorithm) -> normalized pair."""
    algorithm, sep, value = text.partition(':')
    if not sep:
        algorithm, value = default_algorithm, text
    return normalize_checksum(algorithm, value)


class Accumulator:
    """Running checksum over chunks of bytes, for streams read through a storage client."""
    __slots__ = ('algorithm', '_value', '_hash')

    def __init__(self, algorithm: str = DEFAULT_ALGORITHM):
        self.algorithm = algorithm.lower()
        self._hash = None
        if self.algorithm == 'adler32':
            self._value = 1
        elif self.algorithm == 'crc32':
            self._value = 0
        elif self.algorithm in ('md5', 'sha1'):
            self._hash = hashlib.new(self.algorithm)
        else:
            raise ValueError(f'unsupported checksum algorithm {algorithm!r}')

    def update(self, chunk: bytes) -> None:
        if self._hash is not None:
            self._hash.update(chunk)
        elif self.algorithm == 'adler32':
            self._value = zlib.adler32(chunk, self._value)
        else:
            self._value = zlib.crc32(chunk, self._value)

    def hexdigest(self) -> str:
        if self._hash is not None:
            return self._hash.hexdigest()
        return f'{self._value:08x}'


def checksum_of_chunks(chunks: Iterable[bytes], algorithm: str = DEFAULT_ALGORITHM) -> str:
    acc = Accumulator(algorithm)
    for chunk in chunks:
        acc.update(chunk)
    return acc.hexdigest()


def adler32_of_bytes(data: bytes) -> str:
    return f'{zlib.adler32(data):08x}'


def adler32_of_file(path: str | Path, chunk_size: int = 4 << 20) -> str:
    with open(path, 'rb') as f:
        return checksum_of_chunks(iter(lambda: f.read(chunk_size), b''), 'adler32')
