"""Django's MySQL/MariaDB backend, with one addition: the server address of an alias can be
redirected at run time (execution/topology.py does it when a failover moves the primary), so that
nothing ever rewrites django.conf.settings after start-up."""
from django.db.backends.mysql import base

# alias -> {'host', 'port', 'db', 'user', 'password'}: where the alias points now; process-local,
# written only by execution.topology
REDIRECTS = {}
DRIVER_KEYS = {'host': 'host', 'port': 'port', 'db': 'database', 'user': 'user', 'password': 'password'}
DJANGO_KEYS = {'host': 'HOST', 'port': 'PORT', 'db': 'NAME', 'user': 'USER', 'password': 'PASSWORD'}


def redirected(alias, params, keys=DRIVER_KEYS):
    """`params` (the driver's, or Django's with DJANGO_KEYS) pointed where the alias points now."""
    target = REDIRECTS.get(alias)
    if target:
        port = int(target['port'])
        params.update({keys['host']: target['host'], keys['port']: port if keys is DRIVER_KEYS else str(port),
                       keys['db']: target['db']})
        if target.get('user'):
            params[keys['user']] = target['user']
        if target.get('password') is not None:
            params[keys['password']] = target['password']
    return params


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self):
        return redirected(self.alias, super().get_connection_params())
