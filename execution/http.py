"""HTTP(S) front of the server process: a threaded WSGI server (cheroot) running the Django app
in-process, so views read the RAM image directly. With a certificate it serves HTTPS and, with a
client CA, verifies client certificates (optional: a caller without one is anonymous)."""
import logging
import ssl
import threading

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from django.core.wsgi import get_wsgi_application

log = logging.getLogger('dynamo.http')


class HttpServer:
    def __init__(self, host, port, *, threads=16, certificate=None, key=None, client_ca=None):
        self.server = wsgi.Server((host, port), get_wsgi_application(), numthreads=threads,
                                  server_name='dynamo', request_queue_size=256)
        self.scheme = 'http'
        if certificate:
            adapter = BuiltinSSLAdapter(certificate, key)
            if client_ca:
                adapter.context.load_verify_locations(cafile=client_ca)
                adapter.context.verify_mode = ssl.CERT_OPTIONAL
            self.server.ssl_adapter = adapter
            self.scheme = 'https'
        self.thread = None

    def start(self):
        self.server.prepare()   # binds now, so a busy port fails the start
        self.thread = threading.Thread(target=self.server.serve, name='http', daemon=True)
        self.thread.start()

    def stop(self):
        self.server.stop()
        if self.thread is not None:
            self.thread.join(timeout=5)
