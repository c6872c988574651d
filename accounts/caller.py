"""Who is asking: a user name, certificate DN and (role, target) grants. Anonymous callers have no
name. Pure Python: the web, the application socket and the policies all pass one of these."""

# the roles and targets a grant may name (user_auth validates against these; docs/web.md)
ROLES = ('admin', 'operator', 'user')
TARGETS = ('inventory', 'application', 'request', 'detox', 'dealer', 'fileops', 'schedule')


class Caller:
    """The caller: name, DN and (role, target) authorizations. Anonymous over plain HTTP."""
    __slots__ = ('name', 'dn', 'id', 'authlist')

    def __init__(self, name=None, dn=None, id=0, authlist=()):
        self.name = name
        self.dn = dn
        self.id = id
        self.authlist = list(authlist)

    @property
    def is_authenticated(self):
        return self.name is not None

    @property
    def roles(self):
        return self.authlist

    def has_role(self, role, target=None):
        """True if granted `role` on `target` (a grant with target None covers every target)."""
        return any(r == role and (t is None or target is None or t == target) for r, t in self.authlist)

    def has_any_role(self, roles, target=None):
        return any(self.has_role(role, target) for role in roles)

    def __repr__(self):
        return f'Caller({self.name!r}, {self.dn!r})'


ANONYMOUS = Caller()
