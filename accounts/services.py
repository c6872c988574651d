"""Writes of users, DNs and role grants (user_auth, the admin)."""
from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.caller import ROLES, TARGETS
from accounts.dn import check_dn, normalize_dn
from accounts.models import Identity, RoleGrant


def _known(kind, value, known):
    if value not in known:
        import difflib
        close = difflib.get_close_matches(value, known, n=1)
        hint = f' (did you mean {close[0]!r}?)' if close else ''
        raise ValueError(f'unknown {kind} {value!r}{hint}; {kind}s are: {", ".join(known)}')


def user_grant(*, username, dn=None, role=None, target=None):
    """Create the user if needed, record the DN, grant the role (one of accounts.caller.ROLES on
    one of TARGETS, or on every target); returns the user. ValueError names what is wrong."""
    if role:
        _known('role', role, ROLES)
    if target:
        _known('target', target, TARGETS)
    if dn:
        dn = check_dn(dn)
    with transaction.atomic(using=Identity.objects.db):
        user, _ = get_user_model().objects.get_or_create(username=username)
        if dn:
            existing = Identity.objects.filter(dn=dn).exclude(user=user).first()
            if existing is not None:
                raise ValueError(f'the DN {dn} already belongs to {existing.user.username}')
            Identity.objects.get_or_create(user=user, dn=dn)
        if role:
            RoleGrant.objects.get_or_create(user=user, role=role, target=target or '')
    return user


def user_revoke(*, username, role=None, target=None, dn=None):
    qs_user = get_user_model().objects.filter(username=username)
    if not qs_user.exists():
        raise ValueError(f'no user {username}')
    count = 0
    if role:
        grants = RoleGrant.objects.filter(user__username=username, role=role)
        if target is not None:
            grants = grants.filter(target=target or '')
        count += grants.delete()[0]
    if dn:
        count += Identity.objects.filter(user__username=username, dn=normalize_dn(dn)).delete()[0]
    if not role and not dn:
        count += qs_user.delete()[0]
    return count
