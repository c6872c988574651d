"""Fixtures of the web tests: a test PKI (openssl), and real servers with extra web module
directories, a modules configuration file, HTTP or HTTPS with client certificates."""
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.webmodules.helpers import PKI, Client, inject_demo, user_auth, wait_online, write_module

ADMIN_DN = '/C=CH/O=Dynamo Test/OU=Users/CN=Jane Admin'
OPERATOR_DN = '/C=CH/O=Dynamo Test/OU=Users/CN=Otto Operator'
NOROLE_DN = '/C=CH/O=Dynamo Test/OU=Users/CN=Nora Norole'
UNKNOWN_DN = '/C=CH/O=Dynamo Test/OU=Users/CN=Uma Unknown'


@dataclass
class Certs:
    pki: PKI
    server: tuple
    admin: tuple
    operator: tuple
    norole: tuple
    unknown: tuple
    foreign: tuple            # a well-formed certificate signed by another CA
    extra: dict = field(default_factory=dict)

    @property
    def ca(self):
        return self.pki.ca_cert

    def issue(self, label, subject):
        if label not in self.extra:
            self.extra[label] = self.pki.issue(label, subject)
        return self.extra[label]


@pytest.fixture
def users():
    """jane (admin on inventory), otto (operator on application) and nora (no role), by their DNs."""
    user_auth('--user', 'jane', '--dn', ADMIN_DN, '--role', 'admin', '--target', 'inventory')
    user_auth('--user', 'otto', '--dn', OPERATOR_DN, '--role', 'operator', '--target', 'application')
    user_auth('--user', 'nora', '--dn', NOROLE_DN)


@pytest.fixture(scope='session')
def certs(tmp_path_factory):
    base = tmp_path_factory.mktemp('pki')
    pki = PKI(base / 'ca')
    foreign = PKI(base / 'foreign', name='Some Other CA')
    return Certs(pki=pki, server=pki.issue('server', '/C=CH/O=Dynamo Test/CN=localhost', server=True),
                 admin=pki.issue('admin', ADMIN_DN), operator=pki.issue('operator', OPERATOR_DN),
                 norole=pki.issue('norole', NOROLE_DN), unknown=pki.issue('unknown', UNKNOWN_DN),
                 foreign=foreign.issue('intruder', ADMIN_DN))


@dataclass
class Web:
    """A running server: `client` is anonymous; `as_(cert)` calls with a client certificate."""
    server: object
    client: Client
    module_dir: Path
    socket: str
    work_dir: str

    @property
    def env(self):
        return {'DYNAMO_APP_SOCKET': self.socket}

    def as_(self, cert):
        return self.client.as_(cert)

    def log(self):
        return self.server.log()


_counter = itertools.count()


@pytest.fixture
def make_web(start_server, tmp_path, certs):
    """make_web(modules={'mymod.py': SOURCE}, config={...}, https=False, demo=True, env={...}) -> Web."""
    def make(*, modules=None, config=None, https=False, demo=True, env=None):
        n = next(_counter)
        if demo:
            inject_demo()
        module_dir = tmp_path / f'modules{n}'
        module_dir.mkdir()
        for relpath, source in (modules or {}).items():
            write_module(module_dir, relpath, source)
        socket_path = tmp_path / f'app{n}.sock'
        work_dir = tmp_path / f'work{n}'
        full_env = {'DYNAMO_APP_SOCKET': str(socket_path), 'DYNAMO_WORK_DIR': str(work_dir),
                    'DYNAMO_WEB_MODULE_PATHS': str(module_dir)}
        if config is not None:
            config_path = tmp_path / f'modules{n}.json'
            config_path.write_text(json.dumps(config))
            full_env['DYNAMO_WEB_MODULES_CONFIG'] = str(config_path)
        if https:
            full_env.update(DYNAMO_WEB_SSL_CERT=certs.server[0], DYNAMO_WEB_SSL_KEY=certs.server[1],
                            DYNAMO_WEB_SSL_CA=certs.ca)
        full_env.update(env or {})
        server = start_server(env=full_env, wait=False)
        client = Client(server.url.replace('http:', 'https:') if https else server.url, ca=certs.ca)
        wait_online(client, server)
        deadline = time.monotonic() + 30   # the application socket opens once the loop runs writes
        while not socket_path.exists():
            assert time.monotonic() < deadline, f'no application socket:\n{server.log()}'
            assert server.proc.poll() is None, server.log()
            time.sleep(0.05)
        return Web(server, client, module_dir, str(socket_path), str(work_dir))
    return make
