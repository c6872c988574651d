"""Reads of users, DNs and roles (in the cluster's database, where the router sends them)."""
from django.contrib.auth import get_user_model

from accounts.caller import ANONYMOUS, Caller
from accounts.dn import MAX_COMPONENTS, dn_prefixes
from accounts.models import Identity, RoleGrant


class UnknownUser(Exception):
    """The certificate (or login) belongs to no active user."""


def _grants(user):
    return [(r, t or None) for r, t in RoleGrant.objects.filter(user=user).values_list('role', 'target')]


def caller_for_dn(dn):
    """The Caller owning certificate `dn` (or a DN it is a proxy of); ANONYMOUS for no DN."""
    if not dn:
        return ANONYMOUS
    if dn.count('/') > MAX_COMPONENTS:
        raise UnknownUser(f'unknown user: the certificate DN has more than {MAX_COMPONENTS} components')
    prefixes = dn_prefixes(dn)
    found = {i.dn: i for i in Identity.objects.select_related('user').filter(dn__in=prefixes)}
    identity = next((found[p] for p in prefixes if p in found), None)   # the longest match wins
    if identity is None or not identity.user.is_active:
        raise UnknownUser(f'unknown user: no account for the certificate {dn}')
    return Caller(identity.user.username, dn, identity.user.id, _grants(identity.user))


def caller_for_login(login, *, uid=None):
    """The Caller of a local login (the application socket); its roles are those granted to the
    user of that name. Local root counts as admin of everything."""
    user, _ = get_user_model().objects.get_or_create(username=login)
    grants = _grants(user)
    if uid == 0:
        grants.append(('admin', None))
    return Caller(login, None, user.id, grants)


def user_list():
    rows = []
    for user in get_user_model().objects.order_by('username').prefetch_related('identities', 'role_grants'):
        rows.append((user.username, [i.dn for i in user.identities.all()],
                     [(g.role, g.target or None) for g in user.role_grants.all()]))
    return rows
