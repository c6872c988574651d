"""What an application sees: set by the server in the forked child before the script runs.

    from dynamo.core.executable import inventory, read_only, authorized, authorizer, make_standard_logger
"""
import logging
import sys

from .authorizer import ReadOnlyAuthorizer

inventory = None      # the inventory (the child's copy-on-write image)
read_only = True      # True unless the run is an authorized write request
authorized = False    # True for an authorized write request
authorizer = ReadOnlyAuthorizer()   # users and their (role, target) grants, read-only

_FORMAT = '%(asctime)s:%(levelname)s:%(name)s: %(message)s'


def make_standard_logger(level='info'):
    """The root logger, printing '<time>:<LEVEL>:<logger>: message' lines on standard output at
    `level` (a name such as 'info' or 'DEBUG', or a logging level number). It replaces the root
    logger's handlers (an application inherits the server's, which write to standard error), so
    that each message is printed once; calling it again only changes the level."""
    if isinstance(level, str):
        value = logging.getLevelName(level.upper())
        if not isinstance(value, int):
            raise ValueError(f'unknown log level {level!r}')
        level = value
    logger = logging.getLogger()
    if not any(getattr(h, '_dynamo_standard', False) for h in logger.handlers):
        for old in list(logger.handlers):
            logger.removeHandler(old)
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler._dynamo_standard = True
        logger.addHandler(handler)
    logger.setLevel(level)
    return logger
