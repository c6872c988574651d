"""Who is calling: the DN of the HTTPS client certificate (or of a trusted proxy's header)
mapped to a user and their (role, target) grants. Plain HTTP callers are anonymous."""
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from dynamo_site.config import split_list
from execution.cluster import cluster_db
from webmodules.base import ANONYMOUS, AuthorizationError, User
from webmodules.models import Identity, RoleGrant


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


def dn_of_request(request):
    meta = request.META
    if meta.get('wsgi.url_scheme') == 'https' and meta.get('SSL_CLIENT_VERIFY') == 'SUCCESS':
        return normalize_dn(meta.get('SSL_CLIENT_S_DN'))
    header = settings.DYNAMO_WEB_DN_HEADER
    if header and meta.get('REMOTE_ADDR') in split_list(settings.DYNAMO_WEB_TRUSTED_PROXIES):
        value = meta.get('HTTP_' + header.upper().replace('-', '_'))
        if value:
            return normalize_dn(value)
    return None


def caller_for_dn(dn):
    if not dn:
        return ANONYMOUS
    db = cluster_db()
    identity = Identity.objects.using(db).select_related('user').filter(dn=dn).first()
    if identity is None:
        # retry without trailing components (proxy certificates append /CN=proxy...)
        parts = dn.split('/')
        while identity is None and len(parts) > 2:
            parts.pop()
            identity = Identity.objects.using(db).select_related('user').filter(dn='/'.join(parts)).first()
    if identity is None or not identity.user.is_active:
        raise AuthorizationError(f'unknown user: no account for the certificate {dn}')
    grants = RoleGrant.objects.using(db).filter(user=identity.user).values_list('role', 'target')
    return User(identity.user.username, dn, identity.user.id, [(r, t or None) for r, t in grants])


def caller_of_request(request):
    return caller_for_dn(dn_of_request(request))


# ------------------------------------------------------------------------ management
def user_grant(*, username, dn=None, role=None, target=None):
    """Create the user if needed, record the DN, grant the role; returns the user."""
    db = cluster_db()
    with transaction.atomic(using=db):
        user, _ = get_user_model().objects.using(db).get_or_create(username=username)
        if dn:
            dn = normalize_dn(dn)
            existing = Identity.objects.using(db).filter(dn=dn).exclude(user=user).first()
            if existing is not None:
                raise ValueError(f'the DN {dn} already belongs to {existing.user.username}')
            Identity.objects.using(db).get_or_create(user=user, dn=dn)
        if role:
            RoleGrant.objects.using(db).get_or_create(user=user, role=role, target=target or '')
    return user


def user_revoke(*, username, role=None, target=None, dn=None):
    db = cluster_db()
    qs_user = get_user_model().objects.using(db).filter(username=username)
    if not qs_user.exists():
        raise ValueError(f'no user {username}')
    count = 0
    if role:
        grants = RoleGrant.objects.using(db).filter(user__username=username, role=role)
        if target is not None:
            grants = grants.filter(target=target or '')
        count += grants.delete()[0]
    if dn:
        count += Identity.objects.using(db).filter(user__username=username, dn=normalize_dn(dn)).delete()[0]
    if not role and not dn:
        count += qs_user.delete()[0]
    return count


def user_list():
    rows = []
    for user in get_user_model().objects.using(cluster_db()).order_by('username').prefetch_related('identities', 'role_grants'):
        rows.append((user.username, [i.dn for i in user.identities.all()],
                     [(g.role, g.target or None) for g in user.role_grants.all()]))
    return rows
