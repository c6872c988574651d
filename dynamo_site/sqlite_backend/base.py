"""Django's SQLite backend with every call into libsqlite3 behind the fork gate (see forkgate)."""
from django.db.backends.sqlite3 import base

from dynamo_site.forkgate import GATE


def _gated(method):
    def call(self, *args, **kwargs):
        with GATE.shared():
            return method(self, *args, **kwargs)
    call.__name__ = method.__name__
    return call


class GatedCursor(base.SQLiteCursorWrapper):
    execute = _gated(base.SQLiteCursorWrapper.execute)
    executemany = _gated(base.SQLiteCursorWrapper.executemany)
    fetchone = _gated(base.Database.Cursor.fetchone)
    fetchmany = _gated(base.Database.Cursor.fetchmany)
    fetchall = _gated(base.Database.Cursor.fetchall)
    close = _gated(base.Database.Cursor.close)

    def __next__(self):
        with GATE.shared():
            return super().__next__()


class DatabaseWrapper(base.DatabaseWrapper):
    get_new_connection = _gated(base.DatabaseWrapper.get_new_connection)
    _commit = _gated(base.DatabaseWrapper._commit)
    _rollback = _gated(base.DatabaseWrapper._rollback)
    _close = _gated(base.DatabaseWrapper._close)
    _set_autocommit = _gated(base.DatabaseWrapper._set_autocommit)
    _start_transaction_under_autocommit = _gated(base.DatabaseWrapper._start_transaction_under_autocommit)

    def create_cursor(self, name=None):
        return self.connection.cursor(factory=GatedCursor)
