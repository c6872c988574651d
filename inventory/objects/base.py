"""Shared pieces of the RAM object model: errors and enumerations.

Pure Python: nothing here may import Django (the graph must be testable and forkable without it).
"""
import enum


class ObjectError(Exception):
    """An inventory operation refers to an unknown object or breaks a rule of the model."""


class _NamedEnum(enum.IntEnum):
    """1-based enumeration whose wire and database form is the lower-case member name."""

    @classmethod
    def parse(cls, value):
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        names = ', '.join(m.name.lower() for m in cls)
        raise ObjectError(f'invalid {cls.__name__} {value!r} (expected one of: {names})')

    @property
    def label(self):
        return self.name.lower()

    @classmethod
    def name_of(cls, value):
        """The wire name of a member given by value or name (the original's `X.status_name`)."""
        return cls.parse(value).label

    def __str__(self):
        return self.name.lower()


class DatasetStatus(_NamedEnum):
    UNKNOWN = 1
    DELETED = 2
    DEPRECATED = 3
    INVALID = 4
    PRODUCTION = 5
    VALID = 6
    IGNORED = 7


class DataType(_NamedEnum):
    UNKNOWN = 1
    PRODUCTION = 2
    TEST = 3


class StorageType(_NamedEnum):
    DISK = 1
    MSS = 2
    BUFFER = 3
    UNKNOWN = 4


class SiteStatus(_NamedEnum):
    READY = 1
    WAITROOM = 2
    MORGUE = 3
    UNKNOWN = 4


class OwnershipLevel(_NamedEnum):
    DATASET = 1
    BLOCK = 2


def add_constants(cls, prefix, enum_cls):
    """The original's class constants (`Site.STAT_READY`, ...): the members of `enum_cls`."""
    for member in enum_cls:
        setattr(cls, prefix + member.name, member)


def alias(value, original):
    """A constructor argument given under our name (`value`) or under the original's (`original`)."""
    return value if original is None else original


def check_name(kind, value):
    """Constructors check only that a name is a non-empty string (the store builds objects with
    names accepted long ago); what a new name may be is rules.check_name."""
    if not isinstance(value, str) or not value:
        raise ObjectError(f'{kind} name must be a non-empty string, got {value!r}')
    return value


def check_nonnegative(kind, field, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ObjectError(f'{kind} {field} must be a non-negative integer, got {value!r}')
    return value
