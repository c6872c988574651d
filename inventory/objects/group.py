"""Groups: owners of replicas. The null group (name None) always exists and means "no owner";
`Group.null_group` is the one every inventory of the process holds as groups[None]."""
from .base import OwnershipLevel, ObjectError, add_constants, alias


class Group:
    __slots__ = ('_name', 'id', 'olevel')

    def __init__(self, name, olevel=OwnershipLevel.BLOCK, id=0, *, gid=None):
        if name is not None and (not isinstance(name, str) or not name):
            raise ObjectError(f'group name must be a non-empty string or None, got {name!r}')
        self._name = name
        self.id = alias(id, gid)
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
    copy = copy_from

    @staticmethod
    def olevel_name(value):
        """'Dataset' or 'Block', as the original spelled ownership levels."""
        return OwnershipLevel.parse(value).name.capitalize()

    olevel_val = staticmethod(OwnershipLevel.parse)

    def __repr__(self):
        return f'Group({self._name!r})'


add_constants(Group, 'OL_', OwnershipLevel)
Group.null_group = Group(None)


def group_name(group):
    """Name of a Group object or of a name-or-None stand-in (unlinked clones carry names)."""
    if group is None or isinstance(group, str):
        return group
    return group.name
