"""Which server this is and where the cluster's tables are: the bottom layer of execution/.

One process-local `TOPOLOGY` object holds this server's role (primary or secondary), its server id,
the primary's database address and the alias through which the cluster's tables are reached
(`default` on the primary, `primary` on a secondary). It imports no model (state rows and peers
are read with plain SQL), and it never writes django.conf.settings: a failover re-points the
`primary` alias through the database backend (dynamo_site.mysql_backend.REDIRECTS).
"""
import json
import logging
import re
import threading

from django.conf import settings
from django.db import connections

from dynamo_site.mysql_backend.base import DJANGO_KEYS, REDIRECTS, redirected

log = logging.getLogger('dynamo.cluster')

PRIMARY = 'primary'       # the alias of the primary's database on a secondary
DEFAULT = 'default'
_STATE_DEFAULTS = {'seq': 0, 'digest': '', 'epoch': 0, 'primary_at': '', 'writer': '', 'writer_expires': None}


class Topology:
    """Role and addresses of this process. Changed only by start-up and by failover."""

    def __init__(self):
        self._lock = threading.Lock()
        self.master = dict(settings.DYNAMO_MASTER) if settings.DYNAMO_MASTER else None
        self.role = 'secondary' if self.master else 'primary'
        self.server_id = None
        self.bind = settings.DYNAMO_BIND

    # ------------------------------------------------------------------ who am I
    @property
    def is_secondary(self):
        return self.role == 'secondary'

    @property
    def cluster_alias(self):
        """The alias of the database that holds the cluster's tables (queue, servers, users, log)."""
        return PRIMARY if self.role == 'secondary' else DEFAULT

    @property
    def clustered(self):
        """Only MariaDB/MySQL servers form clusters (SQLite is the embedded single server)."""
        return connections[DEFAULT].vendor == 'mysql'

    def own_address(self):
        """Where peers reach this server's own database."""
        db = settings.DATABASES[DEFAULT]
        return {'host': db.get('HOST') or '127.0.0.1', 'port': int(db.get('PORT') or 3306), 'db': db['NAME']}

    def primary_params(self):
        """Connection parameters (Django style) of the primary's database as this process sees it now."""
        if self.role == 'primary':
            return dict(settings.DATABASES[DEFAULT])
        return redirected(PRIMARY, dict(settings.DATABASES[PRIMARY]), DJANGO_KEYS)

    def describe_primary(self):
        p = self.primary_params()
        return f'{p.get("HOST") or "localhost"}:{p.get("PORT") or 3306}/{p["NAME"]}'

    def master_conf_json(self):
        """master_conf (JSON) naming the current primary, for a child process of this server."""
        p = self.primary_params()
        conf = dict(self.master or {})
        conf.update(host=p['HOST'], port=int(p['PORT'] or 3306), db=p['NAME'], user=p['USER'])
        if p.get('PASSWORD'):
            conf['password'] = p['PASSWORD']
        return json.dumps(conf)

    # ------------------------------------------------------------------ changes of role
    def follow(self, address):
        """Make the database at `address` ({host, port, db}) this server's primary: every thread's
        next connection of the `primary` alias goes there. Credentials: master_conf's, else ours."""
        if PRIMARY not in settings.DATABASES:
            raise RuntimeError('this server has no primary alias (only MariaDB/MySQL servers form clusters)')
        with self._lock:
            conf = dict(self.master or {})
            if not conf.get('user'):
                local = settings.DATABASES[DEFAULT]
                conf.update(user=local['USER'], password=local['PASSWORD'])
            REDIRECTS[PRIMARY] = {'host': address['host'], 'port': int(address['port']), 'db': address['db'],
                                  'user': conf.get('user'), 'password': conf.get('password', '')}
            conf.update(host=address['host'], port=int(address['port']), db=address['db'])
            self.master = conf
            self.role = 'secondary'
        connections[PRIMARY].close()

    def become_primary(self):
        with self._lock:
            self.role = 'primary'
        connections[PRIMARY].close()

    # ------------------------------------------------------------------ state rows and peers
    def state_row(self, alias=DEFAULT):
        """The state row of a store (seq, digest, epoch, primary_at, writer, writer_expires) as a
        dict; its defaults when the store has none yet."""
        with connections[alias].cursor() as c:
            c.execute('SELECT seq, digest, epoch, primary_at, writer, writer_expires '
                      'FROM dyn_inventory_state WHERE id = 1')
            row = c.fetchone()
        return dict(zip(_STATE_DEFAULTS, row)) if row else dict(_STATE_DEFAULTS)

    def peer_connect(self, address, timeout=3):
        """A short-lived connection to a peer's database (the primary's credentials)."""
        import MySQLdb
        base = self.primary_params()
        return MySQLdb.connect(host=address['host'], port=int(address['port']), db=address['db'],
                               user=base['USER'], passwd=base['PASSWORD'], connect_timeout=timeout,
                               charset='utf8mb4', autocommit=True)

    def peer_query(self, address, sql, params=()):
        """Run one statement on a peer's database; its first row (None if it has none). Raises
        when the peer does not answer."""
        conn = self.peer_connect(address, timeout=2)
        try:
            c = conn.cursor()
            c.execute(sql, params)
            return c.fetchone()
        finally:
            conn.close()

    def peer_row(self, address, sql, params=()):
        """The first row of a query on a peer's database; None when it has none or does not answer."""
        try:
            return self.peer_query(address, sql, params)
        except Exception:   # noqa: BLE001 - an unreachable peer says nothing
            return None

    def fenced_by(self, state=None):
        """The address of the primary that replaced this server, if any (this database was fenced,
        or a peer it knows is primary under a newer epoch); None otherwise. A replaced primary that
        finds out from a peer fences its own database at once (it must not wait for the new
        primary to reach it)."""
        state = state or self.state_row()
        if state['primary_at']:
            return json.loads(state['primary_at'])
        own = self.own_address()
        with connections[DEFAULT].cursor() as c:
            c.execute("SELECT DISTINCT db_address FROM dyn_servers WHERE db_address <> ''")
            addresses = [json.loads(row[0]) for row in c.fetchall()]
        for address in addresses:
            if address == own:
                continue
            row = self.peer_row(address, 'SELECT epoch, primary_at FROM dyn_inventory_state WHERE id = 1')
            if row and row[0] > state['epoch'] and not row[1]:
                with connections[DEFAULT].cursor() as c:
                    c.execute('UPDATE dyn_inventory_state SET epoch = %s, primary_at = %s WHERE id = 1 AND epoch < %s',
                              [row[0], json.dumps(address), row[0]])
                return address
        return None

    def resolve_primary(self, hops=3):
        """Point this process at the cluster's current primary: the configured one may have been
        replaced by failover (its database then names the new one; a former primary's own
        database does too). Commands and the server call this before touching the cluster."""
        if not self.clustered:
            return
        if not self.is_secondary:
            address = self.fenced_by()
            if address is None:
                return
            log.warning('a newer primary replaced this server (failover): following its database %s', address)
            self.follow(address)
        for _ in range(hops):
            try:
                primary_at = self.state_row(PRIMARY)['primary_at']
            except Exception:   # noqa: BLE001 - unreachable: keep the configured primary
                return
            if not primary_at:
                return
            log.warning('a newer primary replaced the configured one (failover): following its database %s',
                        primary_at)
            self.follow(json.loads(primary_at))


TOPOLOGY = Topology()

_HOLDER = re.compile(r'^server (\d+) ')


def lease_owner(*, server_id, what):
    """The writer-lease name of a writer on a server: 'server 3 application 17', 'server 3 write'."""
    return f'server {server_id} {what}'


def lease_server(owner):
    """The server id named by a writer-lease owner, or None."""
    match = _HOLDER.match(owner or '')
    return int(match.group(1)) if match else None


def server_paths(bind):
    """(socket, work area) of the server serving `bind`, unless configured: derived from the bind
    address, so that two servers started from one checkout never collide."""
    from pathlib import Path
    slug = re.sub(r'[^A-Za-z0-9_.-]', '_', bind)
    base = Path(settings.VAR_DIR) / 'servers' / slug
    socket = settings.DYNAMO_APP_SOCKET or str(base / 'dynamo.sock')
    work = settings.DYNAMO_WORK_DIR or str(base / 'apps')
    return socket, work
