"""Start the Dynamo server: load the inventory into RAM, serve HTTP, apply writes."""
import logging
import signal
import sys
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor


class Command(BaseCommand):
    help = 'Run the Dynamo server (RAM inventory, HTTP, write path).'

    def add_arguments(self, parser):
        parser.add_argument('--config', help='INI file with [server] and [web] sections')
        parser.add_argument('--bind', help='HOST:PORT to serve HTTP on (default from config, else 127.0.0.1:8000)')

    def handle(self, *args, **options):
        from execution.server import DynamoServer
        logging.getLogger('dynamo').setLevel(settings.DYNAMO_LOG_LEVEL)
        bind = options['bind'] or settings.DYNAMO_BIND
        _check_database()
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        try:
            DynamoServer(bind=bind, stop_event=stop).run()
        except OSError as exc:
            raise CommandError(f'cannot serve on {bind}: {exc.strerror or exc}')


def _check_database():
    db = settings.DATABASES['default']
    where = db['NAME'] if db['ENGINE'].endswith('sqlite3') else f'{db["USER"]}@{db["HOST"]}:{db["PORT"]}/{db["NAME"]}'
    try:
        connection.ensure_connection()
        pending = MigrationExecutor(connection).migration_plan(
            MigrationExecutor(connection).loader.graph.leaf_nodes())
    except DatabaseError as exc:
        sys.stderr.write(f'dynamo: cannot connect to the database {where}: {exc.args[-1] if exc.args else exc}\n')
        sys.exit(1)
    if pending:
        sys.stderr.write(f'dynamo: the database {where} is not initialised or not up to date: '
                         f'run "python manage.py migrate" first\n')
        sys.exit(1)
