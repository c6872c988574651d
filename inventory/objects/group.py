"""Groups: owners of replicas. The null group (name None) always exists and means "no owner"."""
from .base import OwnershipLevel, ObjectError


class Group:
    __slots__ = ('_name', 'id', 'olevel')

    def __init__(self, name, olevel=OwnershipLevel.BLOCK, id=0):
        if name is not None and (not isinstance(name, str) or not name):
            raise ObjectError(f'group name must be a non-empty string or None, got {name!r}')
        self._name = name
        self.id = id
        self.olevel = OwnershipLevel.parse(olevel)

    name = property(lambda self: self._name)

    def key(self):
        return self._name

    def values(self):
        return (OwnershipLevel.parse(self.olevel),)

    def copy_from(self, other):
        self.olevel = OwnershipLevel.parse(other.olevel)

    def clone(self):
        return Group(self._name, self.olevel, self.id)

    unlinked_clone = clone

    def __repr__(self):
        return f'Group({self._name!r})'


def group_name(group):
    """Name of a Group object or of a name-or-None stand-in (unlinked clones carry names)."""
    if group is None or isinstance(group, str):
        return group
    return group.name
