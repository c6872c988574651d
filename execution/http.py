"""HTTP(S) front of the server process: a threaded WSGI server (cheroot) running the Django app
in-process, so views read the RAM image directly. With a certificate it serves HTTPS and, with a
client CA, verifies client certificates (optional: a caller without one is anonymous). Grid proxy
certificates (RFC 3820) are accepted and identify the caller by the DN of the end-entity
certificate that signed them."""
import logging
import ssl
import threading

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from django.conf import settings
from django.core.wsgi import get_wsgi_application

log = logging.getLogger('dynamo.http')

# the proxyCertInfo extension (RFC 3820, id-pe-proxyCertInfo 1.3.6.1.5.5.7.1.14) as a DER OID
_PROXY_CERT_INFO = bytes.fromhex('2b0601050507010e')


class HttpServer:
    def __init__(self, host, port, *, threads=None, certificate=None, key=None, client_ca=None):
        self.server = wsgi.Server((host, port), get_wsgi_application(),
                                  numthreads=threads or settings.DYNAMO_WEB_THREADS,
                                  server_name='dynamo', request_queue_size=256)
        self.scheme = 'http'
        if certificate:
            adapter = GridSSLAdapter(certificate, key)
            if client_ca:
                adapter.context.load_verify_locations(cafile=client_ca)
                adapter.context.verify_mode = ssl.CERT_OPTIONAL
                adapter.context.verify_flags |= ssl.VERIFY_ALLOW_PROXY_CERTS
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


class GridSSLAdapter(BuiltinSSLAdapter):
    """cheroot's adapter, with the client's identity (SSL_CLIENT_S_DN and the other SSL_CLIENT_*
    variables) taken from the end-entity certificate when the client presented a proxy of it; the
    proxy's own subject is in SSL_CLIENT_PROXY_S_DN."""

    def get_environ(self, sock):
        environ = super().get_environ(sock)
        if environ.get('SSL_CLIENT_VERIFY') != 'SUCCESS':
            return environ
        try:
            chain = sock._sslobj.get_verified_chain()   # leaf first (public in Python 3.13)
        except (AttributeError, ValueError, ssl.SSLError):
            return environ
        end_entity = next((c for c in chain if not is_proxy(c.public_bytes(ssl._ssl.ENCODING_DER))), None)
        if end_entity is not None and end_entity is not chain[0]:
            proxy_dn = environ.get('SSL_CLIENT_S_DN', '')
            environ = {k: v for k, v in environ.items()
                       if not k.startswith(('SSL_CLIENT_S_DN', 'SSL_CLIENT_I_DN'))}
            environ.update(self._make_env_cert_dict('SSL_CLIENT', end_entity.get_info()))
            environ['SSL_CLIENT_PROXY_S_DN'] = proxy_dn
        return environ


def _tlv(data, start):
    """(tag, content start, content end) of the DER element at `start`."""
    tag, length = data[start], data[start + 1]
    start += 2
    if length & 0x80:
        count = length & 0x7f
        length = int.from_bytes(data[start:start + count], 'big')
        start += count
    return tag, start, start + length


def _children(data, start, end):
    while start < end:
        tag, content, after = _tlv(data, start)
        yield tag, content, after
        start = after


def is_proxy(der):
    """True if the DER certificate carries the RFC 3820 proxyCertInfo extension."""
    try:
        _, cert, cert_end = _tlv(der, 0)
        _, tbs, tbs_end = _tlv(der, cert)
        for tag, content, end in _children(der, tbs, tbs_end):
            if tag != 0xa3:   # [3] extensions
                continue
            _, exts, exts_end = _tlv(der, content)
            for _, ext, ext_end in _children(der, exts, exts_end):
                tag, oid, oid_end = _tlv(der, ext)
                if tag == 0x06 and der[oid:oid_end] == _PROXY_CERT_INFO:
                    return True
    except IndexError:   # not DER: not a proxy either
        return False
    return False
