"""The inventory object classes under their original import path."""
from inventory.objects import (Block, BlockReplica, DataType, Dataset, DatasetReplica,
                               DatasetStatus, File, Group, ObjectError, OwnershipLevel, Partition,
                               Site, SitePartition, SiteStatus, StorageType)

__all__ = ['Block', 'BlockReplica', 'DataType', 'Dataset', 'DatasetReplica', 'DatasetStatus',
           'File', 'Group', 'ObjectError', 'OwnershipLevel', 'Partition', 'Site', 'SitePartition',
           'SiteStatus', 'StorageType']
