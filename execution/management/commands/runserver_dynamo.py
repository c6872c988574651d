"""Start the Dynamo server: load the inventory into RAM, serve HTTP, apply writes."""
import faulthandler
import logging
import signal
import sys
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dynamo_site.cli import require_database
from execution import embedded
from execution.server import DynamoServer
from execution.topology import TOPOLOGY
from webmodules.registry import get_registry


class Command(BaseCommand):
    help = 'Run the Dynamo server (RAM inventory, HTTP, write path).'

    def add_arguments(self, parser):
        parser.add_argument('--config', help='INI file with [server] and [web] sections')
        parser.add_argument('--bind', help='HOST:PORT to serve HTTP on (default from config, else 127.0.0.1:8000)')

    def handle(self, *args, **options):
        logging.getLogger('dynamo').setLevel(settings.DYNAMO_LOG_LEVEL)
        bind = options['bind'] or settings.DYNAMO_BIND
        require_database()
        TOPOLOGY.resolve_primary()   # a failover may have moved the cluster's primary
        get_registry()   # discover the web modules now, not on the first request
        stop = threading.Event()
        force = threading.Event()   # a second signal: a primary stops even before its secondaries

        def on_signal(*_):
            (force if stop.is_set() else stop).set()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)
        # `kill -USR1 PID` prints every thread's stack to the log: what a server that seems stuck is doing
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True, chain=False)
        ended = threading.Event()   # the embedded services (no broker) stop with the server
        services = embedded.start_all(ended)
        try:
            DynamoServer(bind=bind, stop_event=stop, force_stop=force).run()
        except OSError as exc:
            raise CommandError(f'cannot serve on {bind}: {exc.strerror or exc}')
        finally:
            ended.set()
            embedded.stop_all(services)

