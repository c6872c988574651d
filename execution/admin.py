from django.contrib import admin

from execution import models


@admin.register(models.Server)
class ServerAdmin(admin.ModelAdmin):
    list_display = ('hostname', 'pid', 'bind', 'state', 'seq', 'started', 'heartbeat')
    readonly_fields = [f.name for f in models.Server._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(models.ChangeRequest)
class ChangeRequestAdmin(admin.ModelAdmin):
    list_display = ('id', 'kind', 'origin', 'state', 'created', 'finished', 'seq', 'message')
    list_filter = ('state', 'kind')
    readonly_fields = [f.name for f in models.ChangeRequest._meta.fields]

    def has_add_permission(self, request):
        return False
