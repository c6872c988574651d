"""Helpers of the web tests: a small HTTP(S) client, a test PKI made with the openssl command, and
web module sources written into a module directory (DYNAMO_WEB_MODULE_PATHS) for a real server."""
import http.client
import json
import ssl
import subprocess
import textwrap
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import manage

MUON = '/SingleMuon/Run2026A-PromptReco-v1/MINIAOD'
ZEROBIAS = '/ZeroBias/Run2026A-PromptReco-v1/AOD'
TTBAR = '/TTbar/Sim2026-v2/GEN-SIM'
MIT = 'T2_US_MIT'
CERN = 'T1_CH_CERN_Disk'
DEMO_DATASETS = sorted([MUON, ZEROBIAS, TTBAR])
FINAL = ('done', 'failed', 'killed', 'notfound', 'authfailed')


# ---------------------------------------------------------------------------- HTTP client
@dataclass
class Reply:
    status: int
    headers: dict
    text: str
    json: object = None
    content_type: str = ''

    def __repr__(self):
        return f'Reply({self.status}, {self.content_type}, {self.text[:600]!r})'


@dataclass
class Client:
    """Requests to one server; `cert` is (certificate, key) of the caller, or None (anonymous)."""
    url: str
    ca: str = None
    cert: tuple = None
    timeout: float = 30

    def as_(self, cert):
        return Client(self.url, self.ca, cert, self.timeout)

    def _connection(self):
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme == 'https':
            context = ssl.create_default_context(cafile=self.ca)
            if self.cert:
                context.load_cert_chain(*self.cert)
            return http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=self.timeout)
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)

    def request(self, method, path, *, params=None, body=None, json_body=None, form=None, headers=None):
        headers = dict(headers or {})
        if params:
            path += ('&' if '?' in path else '?') + urllib.parse.urlencode(params, doseq=True)
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault('Content-Type', 'application/json')
        elif form is not None:
            body = urllib.parse.urlencode(form, doseq=True).encode()
            headers.setdefault('Content-Type', 'application/x-www-form-urlencoded')
        headers.setdefault('Accept', 'application/json')
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                          raw.decode('utf-8', 'replace'))
        finally:
            conn.close()
        reply.content_type = reply.headers.get('content-type', '')
        if reply.content_type.startswith('application/json'):
            try:
                reply.json = json.loads(reply.text)
            except ValueError:
                reply.json = None   # labelled JSON but not JSON: the assertions on .json say so
        return reply

    def get(self, path, **kw):
        return self.request('GET', path, **kw)

    def post(self, path, **kw):
        return self.request('POST', path, **kw)

    def data(self, path, **kw):
        """GET /data/PATH; asserts a 200 OK envelope and returns its data."""
        reply = self.get('/data/' + path, **kw)
        assert reply.status == 200 and reply.json['result'] == 'OK', reply
        return reply.json.get('data')

    def datasets(self):
        return {d['name']: d for d in self.data('inventory/datasets')}


def wait_online(client, server, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(f'server exited with {server.proc.returncode}:\n{server.log()}')
        try:
            if client.get('/data/inventory/groups').status == 200:
                return
        except (OSError, ssl.SSLError, http.client.HTTPException):
            pass
        time.sleep(0.1)
    raise AssertionError(f'server not online after {timeout} s:\n{server.log()}')


def wait_for(predicate, timeout=30, what='condition', interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f'{what}: not reached after {timeout} s')
        time.sleep(interval)


# ---------------------------------------------------------------------------- PKI (openssl)
def _openssl(*args, cwd):
    r = subprocess.run(['openssl', *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f'openssl {" ".join(args)}:\n{r.stderr}'
    return r


@dataclass
class PKI:
    """A certificate authority in `directory`; issue() makes certificates signed by it."""
    directory: Path
    name: str = 'Dynamo Test CA'
    ca_cert: str = field(init=False)
    ca_key: str = field(init=False)

    def __post_init__(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca_cert, self.ca_key = str(self.directory / 'ca.crt'), str(self.directory / 'ca.key')
        (self.directory / 'ca.ext').write_text(
            'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n'
            'subjectKeyIdentifier=hash\n')
        _openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
                 '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3', '-subj', f'/C=CH/O=Dynamo Test/CN={self.name}',
                 '-addext', 'basicConstraints=critical,CA:TRUE',
                 '-addext', 'keyUsage=critical,keyCertSign,cRLSign', cwd=self.directory)

    def issue(self, label, subject, *, server=False):
        """(certificate path, key path) for `subject` ('/C=../CN=..'), signed by this CA."""
        d = self.directory
        ext = d / f'{label}.ext'
        if server:
            ext.write_text('basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n'
                           'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n')
        else:
            ext.write_text('basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n'
                           'extendedKeyUsage=clientAuth\n')
        _openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
                 '-keyout', f'{label}.key', '-out', f'{label}.csr', '-subj', subject, cwd=d)
        _openssl('x509', '-req', '-in', f'{label}.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
                 '-out', f'{label}.crt', '-days', '2', '-extfile', ext.name, cwd=d)
        return str(d / f'{label}.crt'), str(d / f'{label}.key')


# ---------------------------------------------------------------------------- users
def user_auth(*args):
    r = manage('user_auth', *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def inject_demo():
    r = manage('dynamo_inject', 'inventory/fixtures/demo.json')
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------------------- module sources
def write_module(directory, relpath, source):
    path = Path(directory) / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


# The seed's example (advanced usage, "Adding a New Web Interface"): one file exporting an HTML page
# and a JSON command; constructors take the Configuration, run() takes (caller, request, inventory).
MYMOD = '''\
"""The seed's example web module."""
from dynamo.web.modules._base import Configuration, HTMLMixin, WebModule


class WebClassDefinedInMyMod(HTMLMixin, WebModule):
    """An HTML page of mymod."""
    title = 'My web page'

    def __init__(self, config):
        super().__init__(config)
        self.greeting = config.mymod.greeting if 'mymod' in config else 'no configuration'

    def run(self, caller, request, inventory):
        sites = ''.join('<li class="site">%s</li>' % name for name in sorted(inventory.sites))
        return self.page(body='<p id="mymod-body">%s</p><ul>%s</ul>' % (self.greeting, sites), caller=caller)


class DataClassDefinedInMyMod(WebModule):
    """JSON of mymod: the number of datasets, the parameters and the configuration it sees."""

    def __init__(self, config):
        super().__init__(config)
        self.config_is_configuration = isinstance(config, Configuration)

    def run(self, caller, request, inventory):
        self.message = 'mymod says hi'
        return {'num_datasets': len(inventory.datasets), 'request': request, 'input_data': self.input_data,
                'config': self.config.get('mymod'), 'config_is_configuration': self.config_is_configuration,
                'attribute_access': self.config.mymod.nested.level if 'mymod' in self.config else None}


export_web = {'myweb': WebClassDefinedInMyMod}
export_data = {'mydata': DataClassDefinedInMyMod}
'''

# The original Dynamo's modules list the bases as (WebModule, HTMLMixin).
OLDSTYLE = '''\
from dynamo.web.modules._base import HTMLMixin, WebModule


class OldStylePage(WebModule, HTMLMixin):
    title = 'Old style'

    def run(self, caller, request, inventory):
        return self.page(body='<p id="old">old style page</p>', caller=caller)


export_web = {'page': OldStylePage}
'''

MYPKG_INIT = '''\
"""A web module package: the exports are here, the helper is abc.py."""
from dynamo.web.modules._base import HTMLMixin, WebModule

from .abc import describe, ANSWER


class PkgPage(HTMLMixin, WebModule):
    title = 'Package page'

    def run(self, caller, request, inventory):
        return self.page(body='<p id="pkg">%s</p>' % describe(inventory), caller=caller)


class PkgData(WebModule):
    def run(self, caller, request, inventory):
        return {'answer': ANSWER, 'description': describe(inventory)}


export_web = {'page': PkgPage}
export_data = {'info': PkgData}
'''

MYPKG_ABC = '''\
"""Helper of mypkg: not a web module of its own."""
ANSWER = 42


def describe(inventory):
    return '%d sites in mypkg' % len(inventory.sites)


class NotExported:
    pass


export_data = {}
'''

ERRORS = '''\
from dynamo.web.modules._base import HTMLMixin, IllFormedRequest, MissingParameter, WebModule


class NeedsParam(WebModule):
    def run(self, caller, request, inventory):
        if 'color' not in request:
            raise MissingParameter('color')
        if request['color'] not in ('red', 'blue'):
            raise IllFormedRequest('color', request['color'], 'red or blue')
        return request['color']


class Crash(WebModule):
    def run(self, caller, request, inventory):
        secret = 'SECRET-VALUE-42'
        raise ZeroDivisionError('crash with ' + secret)


class CrashPage(HTMLMixin, WebModule):
    def run(self, caller, request, inventory):
        raise KeyError('SECRET-PAGE-VALUE')


export_data = {'needs': NeedsParam, 'crash': Crash}
export_web = {'crash': CrashPage}
'''

BROKEN = '''\
from dynamo.web.modules._base import WebModule

class Broken(WebModule)    # syntax error: missing colon
    def run(self, caller, request, inventory):
        return 1

export_data = {'x': Broken}
'''

WHOAMI = '''\
"""Who the dispatcher says is calling, and modules that need roles."""
from dynamo.web.modules._base import WebModule


class WhoAmI(WebModule):
    """The caller as the module sees it."""

    def run(self, caller, request, inventory):
        return {'name': caller.name, 'dn': caller.dn, 'roles': [list(r) for r in caller.roles],
                'authenticated': caller.is_authenticated}


class OperatorOnly(WhoAmI):
    """Needs operator on application."""
    require_roles = (('operator', 'application'),)


class AdminOnly(WhoAmI):
    """Needs admin on inventory."""
    require_roles = (('admin', 'inventory'),)


class KnownOnly(WhoAmI):
    """Any known user."""
    must_authenticate = True


export_data = {'whoami': WhoAmI, 'operator': OperatorOnly, 'admin': AdminOnly, 'known': KnownOnly}
'''

WRITERS = '''\
"""Modules that change the inventory: write-enabled (with and without failing) and read-only ones."""
from dynamo.dataformat import Dataset, DatasetReplica, DatasetStatus
from dynamo.web.modules._base import InvalidRequest, WebModule

MUON = %(muon)r
MIT = %(mit)r


def _change(inventory):
    ds = inventory.datasets[MUON].unlinked_clone()
    ds.status = DatasetStatus.INVALID
    inventory.update(ds)
    inventory.delete(DatasetReplica(MUON, MIT))


class Invalidate(WebModule):
    """Sets the status of a dataset (write-enabled)."""
    require_roles = (('admin', 'inventory'),)
    write_enabled = True

    def run(self, caller, request, inventory):
        ds = inventory.datasets[request['dataset']].unlinked_clone()
        ds.status = DatasetStatus.INVALID
        inventory.update(ds)
        return {'status': inventory.datasets[request['dataset']].status.label}


class ChangeThenRefuse(WebModule):
    """Changes the inventory, then finds the request bad (write-enabled)."""
    require_roles = (('admin', 'inventory'),)
    write_enabled = True

    def run(self, caller, request, inventory):
        _change(inventory)
        raise InvalidRequest('changed my mind after updating')


class ChangeThenCrash(WebModule):
    """Changes the inventory, then crashes (write-enabled)."""
    require_roles = (('admin', 'inventory'),)
    write_enabled = True

    def run(self, caller, request, inventory):
        _change(inventory)
        raise RuntimeError('crashed after updating')


class SneakyUpdate(WebModule):
    """Read-only, but tries inventory.update."""

    def run(self, caller, request, inventory):
        ds = inventory.datasets[MUON].unlinked_clone()
        ds.status = DatasetStatus.INVALID
        inventory.update(ds)
        return 'updated'


class SneakyDelete(WebModule):
    """Read-only, but tries inventory.delete."""
    must_authenticate = True

    def run(self, caller, request, inventory):
        inventory.delete(DatasetReplica(MUON, MIT))
        return 'deleted'


export_data = {'invalidate': Invalidate, 'refuse': ChangeThenRefuse, 'crash': ChangeThenCrash,
               'sneaky_update': SneakyUpdate, 'sneaky_delete': SneakyDelete}
''' % {'muon': MUON, 'mit': MIT}
