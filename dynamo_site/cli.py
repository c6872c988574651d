"""Small terminal helpers shared by management commands (progress bars)."""
import sys
import time


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most 10 times a second; silent for small jobs."""

    def __init__(self, label, total, stream=None, min_total=1000, width=30):
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = total >= min_total
        self.width = width
        self.start = time.monotonic()
        self._last = 0.

    def update(self, done, total=None):
        if total is not None:
            self.total = total
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        fraction = done / self.total if self.total else 1.
        filled = int(fraction * self.width)
        self.stream.write(f'\r{self.label} [{"#" * filled}{"." * (self.width - filled)}] '
                          f'{done}/{self.total} {fraction:4.0%} {now - self.start:5.1f}s')
        self.stream.flush()

    def done(self):
        if self.enabled:
            self.update(self.total)
            self.stream.write('\n')
            self.stream.flush()


def require_database():
    """Exit with a one-line message (no traceback) if the database is unreachable or not migrated."""
    from django.conf import settings
    from django.db import DatabaseError, connection
    from django.db.migrations.executor import MigrationExecutor
    db = settings.DATABASES['default']
    where = db['NAME'] if 'sqlite' in db['ENGINE'] else f'{db["USER"]}@{db["HOST"]}:{db["PORT"]}/{db["NAME"]}'
    try:
        connection.ensure_connection()
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        sys.stderr.write(f'dynamo: cannot connect to the database {where}: {exc.args[-1] if exc.args else exc}\n')
        sys.exit(1)
    if pending:
        sys.stderr.write(f'dynamo: the database {where} is not initialised or not up to date: '
                         f'run "python manage.py migrate" first\n')
        sys.exit(1)
