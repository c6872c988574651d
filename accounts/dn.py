"""Certificate distinguished names in the one form the project stores: '/C=CH/O=Org/CN=Name'."""

import re

MAX_COMPONENTS = 64    # a real DN has about ten; more is an attack on the lookups

# long attribute names some TLS stacks write out, and their usual short forms
_SHORT_NAMES = {
    'domaincomponent': 'DC', 'countryname': 'C', 'stateorprovincename': 'ST', 'localityname': 'L',
    'organizationname': 'O', 'organizationalunitname': 'OU', 'commonname': 'CN', 'userid': 'UID',
    'emailaddress': 'emailAddress', 'serialnumber': 'serialNumber', 'givenname': 'GN', 'surname': 'SN',
}


def _short(component):
    name, sep, value = component.partition('=')
    if not sep:
        return component
    return f'{_SHORT_NAMES.get(name.strip().lower(), name.strip())}={value}'


def normalize_dn(dn):
    """'/C=CH/O=Org/CN=Name' or 'C=CH,O=Org,CN=Name' (mod_ssl / RFC 2253 order) -> '/C=CH/O=Org/CN=Name',
    with attribute names in their short form (DC, OU, CN, ...)."""
    dn = (dn or '').strip()
    if not dn:
        return dn
    if dn.startswith('/'):
        return '/' + '/'.join(_short(p) for p in dn[1:].split('/'))
    parts = [p.strip() for p in dn.replace('\\,', '\x00').split(',') if p.strip()]
    parts = [_short(p) for p in parts]
    if parts and parts[0].upper().startswith('CN=') and not parts[-1].upper().startswith('CN='):
        parts.reverse()   # RFC 2253 lists the most specific component first
    return '/' + '/'.join(p.replace('\x00', ',') for p in parts)


_COMPONENT = re.compile(r'^[A-Za-z][A-Za-z0-9.]*=[^/]+$')


def check_dn(dn):
    """The DN in its stored form; ValueError saying what is wrong when it is not a DN."""
    normal = normalize_dn(dn)
    parts = normal[1:].split('/') if normal else []
    if not parts or len(parts) > MAX_COMPONENTS:
        raise ValueError(f'{dn!r} is not a certificate DN (expected /C=CH/O=Org/CN=Name, or C=CH,O=Org,CN=Name)')
    bad = [p for p in parts if not _COMPONENT.match(p)]
    if bad:
        raise ValueError(f'{dn!r} is not a certificate DN: {bad[0]!r} is not ATTRIBUTE=value '
                         f'(expected /C=CH/O=Org/CN=Name, or C=CH,O=Org,CN=Name)')
    return normal


def dn_prefixes(dn):
    """The DN and its shorter forms without trailing components, longest first (a proxy
    certificate's DN is its owner's with /CN=proxy-like components appended)."""
    parts = dn.split('/')
    return ['/'.join(parts[:n]) for n in range(len(parts), 1, -1)]
