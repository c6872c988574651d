"""HTTP front of the server process: a threaded WSGI server (cheroot) running the Django app
in-process, so views read the RAM image directly."""
import logging
import threading

from cheroot import wsgi
from django.core.wsgi import get_wsgi_application

log = logging.getLogger('dynamo.http')


class HttpServer:
    def __init__(self, host, port, threads=8):
        self.server = wsgi.Server((host, port), get_wsgi_application(), numthreads=threads,
                                  server_name='dynamo')
        self.thread = None

    def start(self):
        self.server.prepare()   # binds now, so a busy port fails the start
        self.thread = threading.Thread(target=self.server.serve, name='http', daemon=True)
        self.thread.start()

    def stop(self):
        self.server.stop()
        if self.thread is not None:
            self.thread.join(timeout=5)
