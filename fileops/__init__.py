"""File operations on storage: LFN -> PFN resolution, checksums, and the storage backends that copy,
delete, stat and list files (gfal2 for every protocol, FTS3 for sites that run one).

Pure of Django and of the inventory: callers hand in PFNs, sizes and checksums and get typed results
back. Importing this package loads no storage library; `fileops.backends.gfal` imports gfal2.
"""
from .checksums import adler32_of_bytes, adler32_of_file, normalize_checksum, parse_checksum
from .pfn import PfnError, lfn_of, resolve_pfn

__all__ = ['PfnError', 'adler32_of_bytes', 'adler32_of_file', 'lfn_of', 'normalize_checksum',
           'parse_checksum', 'resolve_pfn']
