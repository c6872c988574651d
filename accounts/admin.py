from django.contrib import admin

from accounts.models import Identity, RoleGrant


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ('dn', 'user')
    search_fields = ('dn', 'user__username')
    list_select_related = ('user',)


@admin.register(RoleGrant)
class RoleGrantAdmin(admin.ModelAdmin):
    list_display = ('user', 'role', 'target')
    list_filter = ('role', 'target')
    search_fields = ('user__username', 'role')
    list_select_related = ('user',)
