"""Storage backends: the contract (base), gfal2 for synchronous operations on any protocol (gfal), and
FTS3 for sites whose transfers go through an FTS3 server (fts3).

Only the contract is imported here, so that code which merely reads results does not load gfal2.
"""
from .base import (CopyOutcome, CopyResult, DeleteOutcome, DeleteResult, ErrorKind, FileOpError, FileState,
                   FileStat, JobStatus, ListedFile, OpState, Side, StorageBackend, TransferSpec, classify)

__all__ = ['CopyOutcome', 'CopyResult', 'DeleteOutcome', 'DeleteResult', 'ErrorKind', 'FileOpError',
           'FileState', 'FileStat', 'JobStatus', 'ListedFile', 'OpState', 'Side', 'StorageBackend',
           'TransferSpec', 'classify']
