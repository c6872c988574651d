"""Authorization of write applications: a title bound to the SHA-256 of a script file, for named
users or for everyone. Editing the script changes its checksum and voids the authorization.

Authorizations are cluster-wide: they live in the cluster's database (the primary's), with users
matched by login name, so that every server of a cluster honours the same list."""
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from execution.models import ExecAuthorization
from execution.services.applications import checksum_bytes


def checksum_file(path):
    with open(path, 'rb') as f:
        return checksum_bytes(f.read())


def user_for_login(login):
    """The Django user standing for a login name (created on first use), in the cluster's database."""
    user, _ = get_user_model().objects.get_or_create(username=login)
    return user


def authorize(*, path, title, users=()):
    """Authorize the script at `path` under `title` for `users` (login names; none = everyone).
    Re-authorizing a (title, user) replaces its checksum."""
    checksum = checksum_file(path)
    targets = [user_for_login(u) for u in users] or [None]
    with transaction.atomic(using=ExecAuthorization.objects.db):
        created = []
        for user in targets:
            ExecAuthorization.objects.filter(title=title, user=user).delete()
            created.append(ExecAuthorization.objects.create(title=title, user=user, checksum=checksum,
                                           path=str(path), created=timezone.now()))
    return created


def revoke(*, title, users=()):
    qs = ExecAuthorization.objects.filter(title=title)
    if users:
        qs = qs.filter(user__username__in=users)
    count, _ = qs.delete()
    return count


def list_authorizations(title=None):
    qs = ExecAuthorization.objects.select_related('user').order_by('title', 'user__username')
    return list(qs.filter(title=title) if title else qs)


def check(*, title, user, checksum):
    """None if (title, user, checksum) is authorized, else a message saying which part failed."""
    entries = list(ExecAuthorization.objects.filter(title=title).filter(Q(user__username=user.username) | Q(user__isnull=True)))
    if not entries:
        if not ExecAuthorization.objects.filter(title=title).exists():
            return f'title "{title}" is not authorized for any script (see manage.py exec_auth)'
        return f'user "{user.username}" is not authorized to run title "{title}"'
    if any(e.checksum == checksum for e in entries):
        return None
    return (f'the script is not the one authorized for title "{title}" (its SHA-256 {checksum[:12]}… '
            f'differs from {", ".join(sorted({e.checksum[:12] + "…" for e in entries}))}); '
            f'it changed since it was authorized: authorize it again')
