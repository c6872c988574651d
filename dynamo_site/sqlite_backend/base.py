"""Django's SQLite backend with libsqlite3 behind the fork gate (see dynamo_site.forkgate)."""
import os

from django.db.backends.sqlite3 import base

from dynamo_site.forkgate import GATE


def _gated(method):
    def call(self, *args, **kwargs):
        with GATE.shared():
            return method(self, *args, **kwargs)
    call.__name__ = method.__name__
    return call


class GatedCursor(base.SQLiteCursorWrapper):
    """Holds the gate from its first statement until it is closed."""
    _token = None

    def _hold(self):
        if self._token is None:
            self._token = GATE.enter()

    def _release(self):
        token, self._token = self._token, None
        if token is not None:
            GATE.leave(token)

    def execute(self, query, params=None):
        self._hold()
        return super().execute(query, params)

    def executemany(self, query, param_list):
        self._hold()
        return super().executemany(query, param_list)

    def close(self):
        try:
            return super().close()
        finally:
            self._release()

    def __del__(self):
        self._release()


class DatabaseWrapper(base.DatabaseWrapper):
    @_gated
    def get_new_connection(self, conn_params):
        name = conn_params.get('database', '')
        if name and not name.startswith('file:') and name != ':memory:':
            # the database file's directory is made when the database is first opened (never at import)
            os.makedirs(os.path.dirname(os.path.abspath(name)), exist_ok=True)
        return super().get_new_connection(conn_params)

    _commit = _gated(base.DatabaseWrapper._commit)
    _rollback = _gated(base.DatabaseWrapper._rollback)
    _close = _gated(base.DatabaseWrapper._close)
    _set_autocommit = _gated(base.DatabaseWrapper._set_autocommit)
    _start_transaction_under_autocommit = _gated(base.DatabaseWrapper._start_transaction_under_autocommit)

    def create_cursor(self, name=None):
        return self.connection.cursor(factory=GatedCursor)
