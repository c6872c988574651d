"""The original's read-only `authorizer` for applications: who the users are and which (role,
target) grants they hold, read from this server's database. It changes nothing."""


def _models():
    """The user model and the identity and grant models (found by table, wherever they live)."""
    from django.apps import apps
    from django.contrib.auth import get_user_model
    by_table = {m._meta.db_table: m for m in apps.get_models()}
    return get_user_model(), by_table['dyn_identities'], by_table['dyn_role_grants']


class ReadOnlyAuthorizer:
    """Answers from the database at each call (nothing cached: grants may change meanwhile).
    A grant's target None (stored empty) covers every target."""

    def user_exists(self, name):
        user_model, _, _ = _models()
        return user_model.objects.filter(username=name, is_active=True).exists()

    def list_users(self):
        """[(name, dn, email)] (dn: the user's first certificate DN, or None)."""
        user_model, identity, _ = _models()
        dns = {}
        for username, dn in identity.objects.order_by('id').values_list('user__username', 'dn'):
            dns.setdefault(username, dn)
        return [(name, dns.get(name), email or None) for name, email in
                user_model.objects.filter(is_active=True).order_by('username').values_list('username', 'email')]

    def identify_user(self, dn='', check_trunc=False, name='', uid=None):
        """(name, id, dn) of the user with this DN (check_trunc: or a DN it extends, as proxy
        certificates do), name or id; None if there is none."""
        user_model, identity, _ = _models()
        if dn:
            candidates = [dn]
            if check_trunc:
                parts = dn.split('/')
                candidates += ['/'.join(parts[:n]) for n in range(len(parts) - 1, 1, -1)]
            for candidate in candidates:
                found = identity.objects.filter(dn=candidate, user__is_active=True).select_related('user').first()
                if found is not None:
                    return found.user.username, found.user.id, found.dn
            return None
        users = user_model.objects.filter(is_active=True)
        if name:
            users = users.filter(username=name)
        elif uid is not None:
            users = users.filter(id=uid)
        else:
            return None
        user = users.first()
        if user is None:
            return None
        first = identity.objects.filter(user=user).order_by('id').values_list('dn', flat=True).first()
        return user.username, user.id, first

    def identify_role(self, name):
        """(name, None) if some user holds the role (roles have no table of their own here)."""
        _, _, grant = _models()
        return (name, None) if grant.objects.filter(role=name).exists() else None

    def list_roles(self):
        _, _, grant = _models()
        return sorted(set(grant.objects.values_list('role', flat=True)))

    def list_authorization_targets(self):
        _, _, grant = _models()
        return sorted(set(grant.objects.exclude(target='').values_list('target', flat=True)))

    def list_user_auth(self, user):
        """[(role, target)] of a user name (target None: every target)."""
        _, _, grant = _models()
        return [(role, target or None) for role, target in
                grant.objects.filter(user__username=user, user__is_active=True).order_by('role', 'target')
                .values_list('role', 'target')]

    def check_user_auth(self, user, role, target):
        """True if `user` holds `role` (None: any role) on `target` (None: any target)."""
        for granted_role, granted_target in self.list_user_auth(user):
            if role is not None and granted_role != role:
                continue
            if target is None or granted_target is None or granted_target == target:
                return True
        return False

    def list_authorized_users(self, target):
        """[(user, role)] holding a grant on `target` (None: grants covering every target)."""
        _, _, grant = _models()
        grants = grant.objects.filter(user__is_active=True)
        grants = grants.filter(target='') if target is None else grants.filter(target__in=('', target))
        return sorted(set(grants.values_list('user__username', 'role')))

    def create_authorizer(self):
        return ReadOnlyAuthorizer()
