"""Django's MySQL/MariaDB backend, with one addition: the server address of an alias can be
redirected at run time (execution/topology.py does it when a failover moves the primary), so that
nothing ever rewrites django.conf.settings after start-up."""
from django.db.backends.mysql import base

# alias -> {'host', 'port', 'db', 'user', 'password'}: where the alias points now; process-local,
# written only by execution.topology
REDIRECTS = {}


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self):
        params = super().get_connection_params()
        target = REDIRECTS.get(self.alias)
        if target:
            params.update(host=target['host'], port=int(target['port']), database=target['db'])
            if target.get('user'):
                params['user'] = target['user']
            if target.get('password') is not None:
                params['password'] = target['password']
        return params
