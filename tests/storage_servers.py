"""Real storage servers for tests: a local directory (file://), XRootD (root://) and nginx WebDAV over TLS
(davs://, certificate from a CA made here), each on a free port under a temporary directory, each able
to stop and start again on the same port. They listen on 127.0.0.1 only.

Import the fixtures into a conftest (`from tests.storage_servers import xrootd_server, ...`), and call
fast_xrootd_reconnect() there if tests restart servers. Missing binaries skip the test, or fail it
under CI=true. Nothing here talks to the project's code.
"""
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

HOST = '127.0.0.1'
XROOTD = '/usr/bin/xrootd'
XRDCP = '/usr/bin/xrdcp'
NGINX = '/usr/sbin/nginx'
NGINX_DAV_EXT = '/usr/lib/nginx/modules/ngx_http_dav_ext_module.so'
# XRootD refuses to run as root and nginx's workers drop to an unprivileged user when started by root:
# under root both run as this user, and the trees they serve belong to it
SERVER_USER = 'nobody'


def require(*paths: str) -> None:
    missing = [p for p in paths if not (shutil.which(p) or os.path.exists(p))]
    if missing:
        message = f'storage test servers need {", ".join(missing)} (scripts/install-storage.sh installs them)'
        if os.environ.get('CI') == 'true':
            pytest.fail(message)
        pytest.skip(message)


def fast_xrootd_reconnect(seconds: int = 2) -> None:
    """Let this process's XRootD client dial a failed server again after `seconds` (it reads these
    once, when the first gfal2 context starts: call from a conftest, before any test runs)."""
    os.environ.setdefault('XRD_CONNECTIONWINDOW', str(seconds))
    os.environ.setdefault('XRD_STREAMERRORWINDOW', str(seconds))


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _server_ids() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    user = pwd.getpwnam(SERVER_USER)
    return user.pw_uid, user.pw_gid


def _chown_tree(path: Path, ids) -> None:
    if ids is None:
        return
    os.chown(path, *ids)
    for base, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(base, name), *ids, follow_symlinks=False)


class TestCA:
    """A certificate authority for one test session, in a directory hashed the way grid clients
    (davix, XRootD, OpenSSL's -CApath) expect: point X509_CERT_DIR at `ca_dir`."""
    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, directory: Path):
        require('openssl')
        self.directory = Path(directory)
        self.ca_dir = self.directory / 'certificates'
        self.ca_dir.mkdir(parents=True, exist_ok=True)
        self.ca_key = self.directory / 'ca.key'
        self.ca_pem = self.ca_dir / 'dynamo-test-ca.pem'
        _openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=Dynamo test CA',
                 '-keyout', self.ca_key, '-out', self.ca_pem)
        digest = _openssl('x509', '-hash', '-noout', '-in', self.ca_pem).strip()
        (self.ca_dir / f'{digest}.0').symlink_to(self.ca_pem.name)

    def issue(self, name: str, *, ip: str = HOST, client: bool = False) -> tuple[Path, Path]:
        """A certificate and key signed by this CA: a server's for `ip`, or a client's."""
        key, csr, cert = (self.directory / f'{name}.{ext}' for ext in ('key', 'csr', 'pem'))
        ext = self.directory / f'{name}.ext'
        usage = 'clientAuth' if client else 'serverAuth'
        ext.write_text(f'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n'
                       f'extendedKeyUsage={usage}\n' + ('' if client else f'subjectAltName=IP:{ip},DNS:localhost\n'))
        _openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', f'/CN={name}', '-keyout', key, '-out', csr)
        _openssl('x509', '-req', '-in', csr, '-CA', self.ca_pem, '-CAkey', self.ca_key, '-CAcreateserial',
                 '-days', '2', '-out', cert, '-extfile', ext)
        return cert, key


def _openssl(*args) -> str:
    done = subprocess.run(['openssl', *map(str, args)], capture_output=True, text=True, timeout=60)
    if done.returncode:
        raise RuntimeError(f'openssl {args[0]} failed: {done.stderr}')
    return done.stdout


class StorageSite:
    """A storage site under `root`: `url` is its backend URL, `pfn(lfn)` = url + lfn (the PFN rule),
    `path(lfn)` where the file lies on this machine's disk."""
    scheme = ''

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.root = self.workdir / 'data'
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = ''

    def pfn(self, lfn: str) -> str:
        return self.url.rstrip('/') + '/' + lfn.lstrip('/')

    def path(self, lfn: str) -> Path:
        return self.root / lfn.lstrip('/')

    def plant(self, lfn: str, data: bytes) -> Path:
        """Put a file on the site behind the server's back, owned as if the server had written it."""
        target = self.path(lfn)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        ids = _server_ids()
        if ids is not None:
            # only the new path: the whole tree would make planting thousands of files quadratic
            node = target
            while node != self.root and self.root in node.parents:
                os.chown(node, *ids)
                node = node.parent
        return target

    def start(self):
        return self

    def stop(self) -> None:
        pass

    def restart(self):
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return True


class LocalSite(StorageSite):
    """A directory served by gfal2's file plugin: no server to stop."""
    scheme = 'file'

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.url = f'file://{self.root}'


class _ProcessServer(StorageSite):
    binaries: tuple[str, ...] = ()

    def __init__(self, workdir: Path, port: int | None = None):
        require(*self.binaries)
        super().__init__(workdir)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / 'server.log'

    def _command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 15.0):
        if self.running:
            return self
        _chown_tree(self.workdir, _server_ids())
        with open(self.log_path, 'ab') as out:
            self.proc = subprocess.Popen(self._command(), stdout=out, stderr=subprocess.STDOUT,
                                         cwd=self.workdir, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f'{self.scheme} server exited with {self.proc.returncode}:\n{self.log()}')
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f'{self.scheme} server not listening on {self.port} after {timeout} s:\n{self.log()}')

    stop_signal = signal.SIGTERM

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(self.stop_signal)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # children (XRootD's third-party copy helpers, nginx workers) share the session
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        texts = [p.read_text(errors='replace')[-4000:] for p in self.workdir.rglob('*.log') if p.is_file()]
        return '\n'.join(texts)


class XRootDServer(_ProcessServer):
    """`xrootd` exporting `root`, computing adler32 for clients and accepting third-party copies
    (as source and as destination, through xrdcp) up to `tpc_slots` at a time."""
    scheme = 'root'
    binaries = (XROOTD, XRDCP)
    # xrootd takes its time over SIGTERM while clients are connected; a stopped storage server is
    # what the tests want, so it goes the way a crashed one does
    stop_signal = signal.SIGKILL

    def __init__(self, workdir: Path, port: int | None = None, *, tpc_slots: int = 16):
        super().__init__(workdir, port)
        self.url = f'root://{HOST}:{self.port}/'
        admin = self.workdir / 'admin'
        admin.mkdir(exist_ok=True)
        self.config = self.workdir / 'xrootd.cfg'
        self.config.write_text('\n'.join([
            'all.export /',
            f'oss.localroot {self.root}',
            f'all.adminpath {admin}',
            f'all.pidpath {admin}',
            'xrootd.chksum adler32',
            f'ofs.tpc ttl 60 120 xfr {tpc_slots} pgm {XRDCP} --server',
            '']))

    def _command(self) -> list[str]:
        command = [XROOTD, '-c', str(self.config), '-p', str(self.port), '-l', str(self.workdir / 'xrootd.log'),
                   '-n', 'dynamo']
        if os.geteuid() == 0:
            command += ['-R', SERVER_USER]
        return command


class WebDavServer(_ProcessServer):
    """nginx with the dav and dav-ext modules over TLS: davs://127.0.0.1:PORT/... It computes no
    checksums (clients must read files back), as plain WebDAV storage does not."""
    scheme = 'davs'
    binaries = (NGINX, NGINX_DAV_EXT)

    def __init__(self, workdir: Path, ca: TestCA, port: int | None = None):
        super().__init__(workdir, port)
        self.ca = ca
        self.url = f'davs://{HOST}:{self.port}/'
        cert, key = ca.issue(f'webdav-{self.port}')
        temp = self.workdir / 'tmp'
        temp.mkdir(exist_ok=True)
        user = ''
        if os.geteuid() == 0:
            user = f'user {SERVER_USER} {grp.getgrgid(pwd.getpwnam(SERVER_USER).pw_gid).gr_name};'
        self.config = self.workdir / 'nginx.conf'
        self.config.write_text(f'''
load_module {NGINX_DAV_EXT};
{user}
worker_processes 1;
daemon off;
pid {self.workdir}/nginx.pid;
error_log {self.workdir}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {temp}/body;
  proxy_temp_path {temp}/proxy;
  fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi;
  scgi_temp_path {temp}/scgi;
  server {{
    listen {HOST}:{self.port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    root {self.root};
    client_max_body_size 0;
    location / {{
      # nginx creates collections only for URIs ending in '/', which gfal2's MKCOL does not send
      if ($request_method = MKCOL) {{ rewrite ^(.*[^/])$ $1/ break; }}
      dav_methods PUT DELETE MKCOL COPY MOVE;
      dav_ext_methods PROPFIND OPTIONS;
      create_full_put_path on;
      dav_access user:rw group:rw all:r;
    }}
  }}
}}
''')

    def _command(self) -> list[str]:
        return [NGINX, '-p', str(self.workdir), '-e', str(self.workdir / 'error.log'), '-c', str(self.config)]


# -- fixtures -------------------------------------------------------------------------------------

class _Workdirs:
    """Where servers live. Under root the server user must reach them, and pytest's base temporary
    directory is private to root (0700), so they go to fresh directories of their own in /tmp."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.made: list[Path] = []

    def new(self, name: str) -> Path:
        if os.geteuid() != 0:
            path = self.tmp_path / f'{name}-{len(self.made)}'
            path.mkdir()
        else:
            path = Path(tempfile.mkdtemp(prefix=f'dynamo-{name}-'))
            os.chmod(path, 0o755)
        self.made.append(path)
        return path

    def remove(self) -> None:
        for path in self.made:
            if os.geteuid() == 0:
                shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope='session')
def test_ca(tmp_path_factory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp('ca'))


@pytest.fixture
def local_site(tmp_path) -> LocalSite:
    return LocalSite(tmp_path / 'local-site')


@pytest.fixture
def make_xrootd_server(tmp_path):
    """Start XRootD servers on free ports; all are stopped (and their trees removed) after the test."""
    servers, workdirs = [], _Workdirs(tmp_path)

    def make(name: str = 'xrootd', **kwargs) -> XRootDServer:
        server = XRootDServer(workdirs.new(name), **kwargs)
        servers.append(server)
        return server.start()
    yield make
    for server in servers:
        server.stop()
    workdirs.remove()


@pytest.fixture
def xrootd_server(make_xrootd_server) -> XRootDServer:
    return make_xrootd_server()


@pytest.fixture
def webdav_server(tmp_path, test_ca):
    workdirs = _Workdirs(tmp_path)
    server = WebDavServer(workdirs.new('webdav'), test_ca)
    yield server.start()
    server.stop()
    workdirs.remove()
