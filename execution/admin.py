from django.contrib import admin

from execution import models


@admin.register(models.Server)
class ServerAdmin(admin.ModelAdmin):
    list_display = ('hostname', 'pid', 'bind', 'role', 'state', 'seq', 'started', 'heartbeat')
    list_filter = ('state', 'role')
    readonly_fields = [f.name for f in models.Server._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # only the row of a server that is gone (live servers' rows are theirs; no bulk delete)
        return obj is not None and obj.state in (models.ServerState.DEAD, models.ServerState.GONE)


@admin.register(models.ChangeRequest)
class ChangeRequestAdmin(admin.ModelAdmin):
    list_display = ('id', 'kind', 'origin', 'state', 'created', 'finished', 'seq', 'message')
    list_filter = ('state', 'kind')
    readonly_fields = [f.name for f in models.ChangeRequest._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(models.Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ('id', 'title', 'user', 'state', 'write_request', 'exit_code', 'hostname', 'created', 'finished')
    list_filter = ('state', 'write_request')
    search_fields = ('title', 'user__username', 'script_path')
    readonly_fields = [f.name for f in models.Application._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(models.ExecAuthorization)
class ExecAuthorizationAdmin(admin.ModelAdmin):
    list_display = ('title', 'user', 'checksum', 'path', 'created')
    search_fields = ('title', 'user__username')
