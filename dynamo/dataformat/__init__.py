"""The original's `dynamo.dataformat`: this project's inventory object classes, plus the few names
scripts written for the original import from here (see docs/compatibility.md)."""
from inventory.objects import (Block, BlockReplica, DataType, Dataset, DatasetReplica,
                               DatasetStatus, File, Group, ObjectError, OwnershipLevel, Partition,
                               Site, SitePartition, SiteStatus, StorageType)

from .configuration import Configuration
from .exceptions import ConfigurationError, IntegrityError, OperationalError
from .history import CopiedReplica, DeletedReplica, HistoryRecord

__all__ = ['Block', 'BlockReplica', 'Configuration', 'ConfigurationError', 'CopiedReplica', 'DataType',
           'Dataset', 'DatasetReplica', 'DatasetStatus', 'DeletedReplica', 'File', 'Group', 'HistoryRecord',
           'IntegrityError', 'ObjectError', 'OperationalError', 'OwnershipLevel', 'Partition', 'Site',
           'SitePartition', 'SiteStatus', 'StorageType']
