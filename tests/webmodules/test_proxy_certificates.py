"""Grid proxy certificates (RFC 3820), the default credential of the original dynamo-inject
(/tmp/x509up_u$UID: the proxy, its key and the user's certificate in one file): the TLS handshake
accepts them and the caller is the user of the end-entity certificate, by its DN. Proxies are made
here with the openssl command, signed by the test users' certificates."""
import ssl
import subprocess
from pathlib import Path

import pytest

from execution.http import is_proxy
from tests.webmodules.conftest import ADMIN_DN, UNKNOWN_DN
from tests.webmodules.helpers import WHOAMI

PROXY_EXT = ('basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n'
             'proxyCertInfo=critical,language:id-ppl-inheritAll\n')


def openssl(*args, cwd):
    r = subprocess.run(['openssl', *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f'openssl {" ".join(args)}:\n{r.stderr}'


def make_proxy(directory, signer, signer_dn, serial, chain=()):
    """A proxy of `signer` ((certificate, key), whose subject is `signer_dn`) as the file a grid
    client uses: proxy certificate, proxy key, then the signer's certificate and its own chain."""
    directory = Path(directory)
    label = f'proxy{serial}'
    (directory / f'{label}.ext').write_text(PROXY_EXT)
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
            '-keyout', f'{label}.key', '-out', f'{label}.csr', '-subj', f'{signer_dn}/CN={serial}', cwd=directory)
    openssl('x509', '-req', '-in', f'{label}.csr', '-CA', signer[0], '-CAkey', signer[1], '-set_serial', str(serial),
            '-days', '1', '-extfile', f'{label}.ext', '-out', f'{label}.crt', cwd=directory)
    bundle = directory / f'x509up_{label}'
    bundle.write_text(''.join(Path(p).read_text() for p in
                              (directory / f'{label}.crt', directory / f'{label}.key', signer[0], *chain)))
    return str(bundle), (str(directory / f'{label}.crt'), str(directory / f'{label}.key'))


@pytest.fixture
def web(make_web, users):
    return make_web(modules={'who.py': WHOAMI}, https=True)


def whoami(client):
    reply = client.get('/data/who/whoami')
    assert reply.status == 200, reply
    return reply.json['data']


@pytest.mark.e2e
def test_a_proxy_certificate_identifies_the_user_of_its_end_entity_certificate(web, certs, tmp_path):
    # given: jane's proxy, and a proxy of that proxy (what voms-proxy-init and delegation make)
    proxy, proxy_pair = make_proxy(tmp_path, certs.admin, ADMIN_DN, 1001)
    second, _ = make_proxy(tmp_path, proxy_pair, f'{ADMIN_DN}/CN=1001', 1002, chain=(certs.admin[0],))
    for bundle in (proxy, second):
        # when
        caller = whoami(web.as_((bundle,)))
        # then: the handshake failed with "proxy certificates not allowed" before
        assert caller == {'name': 'jane', 'dn': ADMIN_DN, 'roles': [['admin', 'inventory']], 'authenticated': True}
    # and the proxy is good for what jane may do
    reply = web.as_((proxy,)).post('/data/inventory/inject', json_body={'group': [{'name': 'ProxyGroup'}]})
    assert reply.status == 200 and reply.json['data']['groups'] == 1, reply


@pytest.mark.e2e
def test_a_proxy_is_worth_no_more_than_its_end_entity_certificate(web, certs, tmp_path):
    # a proxy of an unknown user's certificate: a verified certificate of nobody known
    unknown, _ = make_proxy(tmp_path, certs.unknown, UNKNOWN_DN, 2001)
    reply = web.as_((unknown,)).get('/data/who/whoami')
    assert reply.status == 403 and 'unknown user' in reply.json['message'], reply
    # a proxy of a certificate from another CA (with jane's DN): no handshake
    forged, _ = make_proxy(tmp_path, certs.foreign, ADMIN_DN, 2002)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        web.as_((forged,)).get('/data/who/whoami')
    # a "proxy" that jane signed without the proxy extension is a certificate issued by a non-CA
    (tmp_path / 'plain.ext').write_text('basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n')
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout',
            'plain.key', '-out', 'plain.csr', '-subj', f'{ADMIN_DN}/CN=3003', cwd=tmp_path)
    openssl('x509', '-req', '-in', 'plain.csr', '-CA', certs.admin[0], '-CAkey', certs.admin[1], '-set_serial',
            '3003', '-days', '1', '-extfile', 'plain.ext', '-out', 'plain.crt', cwd=tmp_path)
    bundle = tmp_path / 'x509up_plain'
    bundle.write_text(''.join(Path(p).read_text() for p in (tmp_path / 'plain.crt', tmp_path / 'plain.key',
                                                             certs.admin[0])))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        web.as_((str(bundle),)).get('/data/who/whoami')


def test_the_proxy_extension_is_recognized_in_der(certs, tmp_path):
    def der(path):
        return ssl.PEM_cert_to_DER_cert(Path(path).read_text())
    _, (proxy_cert, _) = make_proxy(tmp_path, certs.admin, ADMIN_DN, 4004)
    assert is_proxy(der(proxy_cert))
    assert not is_proxy(der(certs.admin[0])) and not is_proxy(der(certs.ca))
    assert not is_proxy(b'') and not is_proxy(b'\x30\x82\xff\xff')
