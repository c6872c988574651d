"""Small terminal helpers shared by management commands: progress bars, tables, the database
check, and the base class of commands (help with examples and defaults)."""
import argparse
import sys
import textwrap
import time

from django.core.management.base import BaseCommand


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


def table(rows, headers, stream=None):
    """Write rows (sequences) under headers as aligned columns; numbers right-aligned."""
    rows = [['' if v is None else str(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    numeric = [all(_numeric(r[i]) for r in rows) and bool(rows) for i in range(len(headers))]

    def line(cells):
        return '  '.join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric)).rstrip()
    out = [line(headers), line(['-' * w for w in widths])] + [line(r) for r in rows]
    text = '\n'.join(out)
    if stream is not None:
        stream.write(text + '\n')
    return text


def _numeric(value):
    return value.replace('.', '', 1).replace(',', '').lstrip('-').isdigit()


def human_size(n):
    """Bytes in decimal units, as operators read quotas: 1.23 TB."""
    if n is None:
        return ''
    for unit in ('B', 'kB', 'MB', 'GB', 'TB', 'PB'):
        if abs(n) < 1000 or unit == 'PB':
            return f'{n:.0f} {unit}' if unit == 'B' else f'{n:.2f} {unit}'
        n /= 1000


def plural(n, word, words=None):
    return f'{n} {word if n == 1 else (words or word + "s")}'


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


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Django's option order, descriptions as written, and the default of every option that has one."""

    def _get_help_string(self, action):
        text = action.help or ''
        if '%(default)' not in text and action.default not in (None, False, argparse.SUPPRESS, []) \
                and action.option_strings:
            text += ' (default: %(default)s)'
        return text


class DynamoCommand(BaseCommand):
    """A management command whose --help ends with examples (`examples`, one per line) and shows
    the defaults of its options."""
    examples = ''

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs.setdefault('formatter_class', _HelpFormatter)
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        if self.examples:
            lines = textwrap.dedent(self.examples).strip().splitlines()
            parser.epilog = 'examples:\n' + '\n'.join(f'  {line}' for line in lines)
        return parser
