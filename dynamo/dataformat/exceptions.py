"""The original's exception names. Nothing in this project raises them; scripts catch them."""
from inventory.objects import ObjectError


class IntegrityError(ObjectError):
    """Inventory objects that disagree with each other (a block whose files do not add up, ...)."""


class ConfigurationError(Exception):
    """A configuration is missing a value or has a wrong one."""


class OperationalError(Exception):
    """An operation cannot be carried out in the current state (e.g. a database is unreachable)."""
