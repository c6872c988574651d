"""Who may do what: certificate DNs of users, and (role, target) grants. Used by the web, the
application socket and the policies alike (below all of them)."""
from django.conf import settings
from django.db import models


class Identity(models.Model):
    """A certificate DN belonging to a user (a user may have several)."""
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name='identities')
    dn = models.CharField(max_length=512, unique=True)

    class Meta:
        db_table = 'dyn_identities'
        verbose_name_plural = 'identities'

    def __str__(self):
        return f'{self.user.username}: {self.dn}'


class RoleGrant(models.Model):
    """User holds `role` on `target` (empty target = every target)."""
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name='role_grants')
    role = models.CharField(max_length=64, help_text='e.g. admin, operator')
    target = models.CharField(max_length=64, blank=True, default='',
                              help_text='e.g. inventory, application; empty = every target')

    class Meta:
        db_table = 'dyn_role_grants'
        constraints = [models.UniqueConstraint(fields=['user', 'role', 'target'], name='dyn_rolegrant_unique')]

    def __str__(self):
        return f'{self.user.username}: {self.role} on {self.target or "*"}'
