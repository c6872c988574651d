"""Copying the primary's store into a secondary's own database, under one consistent snapshot.

A joining secondary (execution/cluster/join.py) runs the copy in a process of its own
(`manage.py dynamo_copy_store`) while it loads its image from the primary at the same committed
state; nothing here touches the RAM image.
"""
import json
import logging
import sys
import time

from django.conf import settings
from django.db import connections
from django.utils import timezone

from execution.topology import TOPOLOGY
from inventory import services as inventory_services
from inventory import store
from inventory.models import ChangeSet, InventoryState

log = logging.getLogger('dynamo.cluster')


def _inventory_models():
    from inventory import models as m
    return [m.Partition, m.Site, m.Quota, m.Group, m.Dataset, m.Block, m.File, m.DatasetReplica,
            m.BlockReplica, m.BlockReplicaFile]


def _primary_connection():
    """A MySQLdb connection of its own to the primary's database (not the server's `primary` alias,
    which stays free for heartbeats and the log meanwhile)."""
    import MySQLdb
    p = TOPOLOGY.primary_params()
    options = {k: v for k, v in p.get('OPTIONS', {}).items() if k in ('read_default_file', 'charset')}
    return MySQLdb.connect(host=p['HOST'], port=int(p['PORT'] or 3306), user=p['USER'], passwd=p['PASSWORD'],
                           db=p['NAME'], connect_timeout=10, **options)


def _snapshot(conn):
    conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ')
    conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY')


def copy_store(src, progress=None, batch=20000):
    """Replace the local store by the primary's, read on `src` (a connection in its consistent
    snapshot, see open_snapshot; closed here): writers on the primary go on meanwhile. Returns the
    (seq, digest) copied. The local state row says "copying" until the end, so that an interrupted
    copy is never taken for a usable store."""
    from MySQLdb.cursors import SSCursor
    dst = connections['default']
    copied = {}
    start = time.monotonic()
    InventoryState.objects.update_or_create(id=1, defaults={'seq': -1, 'digest': 'copying'})
    bulk = _BulkLoader()
    try:
        dst.ensure_connection()
        literal = dst.connection.literal
        raw = src.cursor(SSCursor)
        try:
            raw.execute('SELECT seq, digest FROM dyn_inventory_state WHERE id = 1')
            rows = raw.fetchall()   # drained: the connection is used by other cursors after this
            seq, digest = rows[0] if rows else (0, '')
            with dst.cursor() as out:
                out.execute('SET SESSION foreign_key_checks = 0, unique_checks = 0')
                try:
                    for model in _inventory_models() + [ChangeSet]:
                        out.execute(f'TRUNCATE TABLE {model._meta.db_table}')
                    for model in _inventory_models():
                        table = model._meta.db_table
                        fields = model._meta.concrete_fields
                        columns = ', '.join(f.column for f in fields)
                        row_sql = _row_formatter(fields, literal)
                        # secondary indexes are built once at the end (much faster than row by row),
                        # as the primary's table has them
                        indexes = _secondary_indexes(src, table)
                        _drop_indexes(out, table, _secondary_indexes(dst.connection, table))
                        raw.execute(f'SELECT {columns} FROM {table}')
                        count = 0
                        while True:
                            rows = raw.fetchmany(batch)
                            if not rows:
                                break
                            if not bulk.load(table, columns, fields, rows):
                                values = ','.join(map(row_sql, rows))
                                out.execute(f'INSERT INTO {table} ({columns}) VALUES {values}'.replace('%', '%%'))
                            count += len(rows)
                            if progress:
                                progress(table, count)
                        _add_indexes(out, table, indexes)
                        copied[table] = count
                        log.info('copied %d rows of %s from the primary (%.1f s)', count, table,
                                 time.monotonic() - start, extra={'table': table, 'rows': count})
                finally:
                    out.execute('SET SESSION foreign_key_checks = 1, unique_checks = 1')
        finally:
            raw.close()
    finally:
        src.close()
        bulk.close()
    InventoryState.objects.filter(id=1).update(seq=seq, digest=digest, updated=timezone.now())
    log.info('copied the primary\'s store at change set %d: %d rows in %.1f s', seq, sum(copied.values()),
             time.monotonic() - start)
    return seq, digest


class _BulkLoader:
    """Rows into a local table with LOAD DATA LOCAL INFILE (a fifth faster than multi-row INSERTs);
    load() returns False when the server refuses it (local_infile off), and INSERTs are used then."""

    def __init__(self):
        self.conn = None
        self.refused = False

    def load(self, table, columns, fields, rows):
        import os
        import tempfile
        if self.refused:
            return False
        if self.conn is None:
            import MySQLdb
            d = settings.DATABASES['default']
            self.conn = MySQLdb.connect(host=d['HOST'], port=int(d['PORT'] or 3306), user=d['USER'],
                                        passwd=d['PASSWORD'], db=d['NAME'], charset='utf8mb4', local_infile=1,
                                        autocommit=True)
            self.conn.query('SET SESSION foreign_key_checks = 0, unique_checks = 0')
        fd, path = tempfile.mkstemp(suffix='.tsv')
        try:
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                f.write(''.join(_tsv_line(row) for row in rows))
            try:
                self.conn.cursor().execute(
                    f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} CHARACTER SET utf8mb4 ({columns})", (path,))
            except Exception as exc:   # noqa: BLE001 - e.g. local_infile disabled on the server
                log.info('LOAD DATA refused (%s): copying with INSERTs', str(exc).splitlines()[0][:120])
                self.refused = True
                return False
        finally:
            os.unlink(path)
        return True

    def close(self):
        if self.conn is not None:
            self.conn.close()


_TSV_ESCAPES = str.maketrans({'\\': '\\\\', '\t': '\\t', '\n': '\\n', '\0': '\\0'})


def _tsv_field(v):
    if v is None:
        return '\\N'
    if isinstance(v, str):
        return v.translate(_TSV_ESCAPES)
    if isinstance(v, bool):
        return '1' if v else '0'
    return str(v)


def _tsv_line(row):
    return '\t'.join(map(_tsv_field, row)) + '\n'


def _secondary_indexes(conn, table):
    """{name: {'unique', 'columns'}} of every index of `table` but the primary key."""
    cursor = conn.cursor()
    try:
        cursor.execute(f'SHOW INDEX FROM {table}')
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        cursor.close()
    indexes = {}
    for row in rows:
        r = dict(zip(names, row))
        if r['Key_name'] == 'PRIMARY':
            continue
        entry = indexes.setdefault(r['Key_name'], {'unique': not int(r['Non_unique']), 'columns': []})
        part = f'({r["Sub_part"]})' if r.get('Sub_part') else ''
        entry['columns'].append((int(r['Seq_in_index']), f'`{r["Column_name"]}`{part}'))
    return indexes


def _drop_indexes(cursor, table, indexes):
    if indexes:
        cursor.execute(f'ALTER TABLE {table} ' + ', '.join(f'DROP INDEX `{name}`' for name in indexes))


def _add_indexes(cursor, table, indexes):
    if not indexes:
        return
    clauses = []
    for name, entry in indexes.items():
        columns = ', '.join(c for _, c in sorted(entry['columns']))
        clauses.append(f'ADD {"UNIQUE " if entry["unique"] else ""}INDEX `{name}` ({columns})')
    cursor.execute(f'ALTER TABLE {table} ' + ', '.join(clauses))


_NUMERIC_FIELDS = ('AutoField', 'BigAutoField', 'SmallAutoField', 'IntegerField', 'BigIntegerField',
                   'SmallIntegerField', 'PositiveIntegerField', 'ForeignKey')


def _row_formatter(fields, literal):
    """row -> "(v1,v2,...)" SQL text; numbers are spelled out directly (the driver's escaping is
    the bottleneck of a store copy), everything else goes through the driver's `literal`."""
    def number(v):
        return 'NULL' if v is None else str(int(v))

    def other(v):
        return literal(v).decode('utf-8')
    kinds = [f.get_internal_type() for f in fields]
    convert = [number if kind in _NUMERIC_FIELDS or kind == 'BooleanField' else other for kind in kinds]
    if all(c is number for c in convert):
        return lambda row: '(' + ','.join(['NULL' if v is None else str(v) for v in row]) + ')'
    return lambda row: '(' + ','.join([c(v) for c, v in zip(convert, row)]) + ')'


def open_snapshot():
    """A connection of its own to the primary's database, in a consistent read view."""
    conn = _primary_connection()
    _snapshot(conn)
    return conn


def copy_and_load(say, progress):
    """Copy the primary's store into the local one (`manage.py dynamo_copy_store`, a process of its
    own) and load the image from the primary's, at once and from one committed state: both read
    views are opened while this server holds the state row, which every writer locks before it
    commits (for milliseconds)."""
    import os
    import subprocess
    import threading

    env = dict(os.environ, DYNAMO_MASTER_CONF=TOPOLOGY.master_conf_json())
    lock = _primary_connection()
    child = None
    outcome = {}
    try:
        lock.query('START TRANSACTION')
        cursor = lock.cursor()
        cursor.execute('SELECT seq FROM dyn_inventory_state WHERE id = 1 FOR UPDATE')
        cursor.fetchall()
        child = subprocess.Popen([sys.executable, str(settings.BASE_DIR / 'manage.py'), 'dynamo_copy_store'],
                                 env=env, stdout=subprocess.PIPE, text=True, cwd=str(settings.BASE_DIR))
        first = child.stdout.readline().strip()
        if first != 'snapshot':
            child.wait()
            raise inventory_services.OutOfSync(f'the copy of the primary\'s store did not start ({first or "no output"})')

        def relay():
            for line in child.stdout:
                words = line.split()
                if words[:1] == ['rows'] and int(words[2]) % 500000 == 0:
                    say(f'copying: {words[2]} rows of {words[1]}')
                elif words[:1] == ['done']:
                    outcome['seq'] = int(words[1])
        reader = threading.Thread(target=relay, name='store-copy-output', daemon=True)
        reader.start()
        inventory, seq = store.load(progress=progress, using='primary', on_snapshot=lock.commit)
    except BaseException:
        if child is not None and child.poll() is None:
            child.kill()
        raise
    finally:
        lock.close()
    code = child.wait()
    reader.join()
    if code != 0 or outcome.get('seq') != seq:
        raise inventory_services.OutOfSync(f'the copy of the primary\'s store failed (exit code {code}, change set '
                                           f'{outcome.get("seq")} against the image\'s {seq})')
    inventory.seq = seq
    inventory.files = store.FileCatalog()   # file lists from the local store from now on
    return inventory
