"""The RAM object graph of the inventory (pure Python, no Django)."""
from .base import (DataType, DatasetStatus, ObjectError, OwnershipLevel, SiteStatus, StorageType)
from .dataset import Block, Dataset, File
from .group import Group
from .inventory import Inventory
from .replica import BlockReplica, DatasetReplica
from .serialize import from_dict, to_dict
from .site import Condition, OWNED, Partition, Site, SitePartition

__all__ = [
    'Block', 'BlockReplica', 'Condition', 'DataType', 'Dataset', 'DatasetReplica',
    'DatasetStatus', 'File', 'Group', 'Inventory', 'OWNED', 'ObjectError', 'OwnershipLevel',
    'Partition', 'Site', 'SitePartition', 'SiteStatus', 'StorageType', 'from_dict', 'to_dict',
]
