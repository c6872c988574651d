"""Read-only admin for the inventory: every change must go through the write path
(dynamo_inject, applications, web writes) so the RAM image and the database never disagree."""
from django.contrib import admin

from inventory import models

NOTE = ' (read-only here: change the inventory with dynamo_inject or an application)'


class ReadOnlyAdmin(admin.ModelAdmin):
    list_per_page = 100
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        extra_context = dict(extra_context or {}, title=self.model._meta.verbose_name_plural.capitalize() + NOTE)
        return super().changelist_view(request, extra_context)


@admin.register(models.Site)
class SiteAdmin(ReadOnlyAdmin):
    list_display = ('name', 'host', 'storage_type', 'status', 'backend')
    search_fields = ('name',)
    list_filter = ('storage_type', 'status')


@admin.register(models.Partition)
class PartitionAdmin(ReadOnlyAdmin):
    list_display = ('name', 'condition', 'subpartitions')


@admin.register(models.Quota)
class QuotaAdmin(ReadOnlyAdmin):
    list_display = ('site', 'partition', 'quota')
    list_select_related = ('site', 'partition')


@admin.register(models.Group)
class GroupAdmin(ReadOnlyAdmin):
    list_display = ('name', 'olevel')
    search_fields = ('name',)


@admin.register(models.Dataset)
class DatasetAdmin(ReadOnlyAdmin):
    list_display = ('name', 'status', 'data_type', 'is_open', 'last_update')
    search_fields = ('name',)
    list_filter = ('status', 'data_type')


@admin.register(models.Block)
class BlockAdmin(ReadOnlyAdmin):
    list_display = ('name', 'dataset', 'size', 'num_files', 'is_open')
    list_select_related = ('dataset',)
    search_fields = ('name', 'dataset__name')


@admin.register(models.DatasetReplica)
class DatasetReplicaAdmin(ReadOnlyAdmin):
    list_display = ('dataset', 'site', 'growing', 'group')
    list_select_related = ('dataset', 'site', 'group')
    search_fields = ('dataset__name', 'site__name')


@admin.register(models.BlockReplica)
class BlockReplicaAdmin(ReadOnlyAdmin):
    list_display = ('block', 'site', 'group', 'is_complete', 'is_custodial', 'size', 'last_update')
    list_select_related = ('block', 'site', 'group')
    search_fields = ('block__name', 'site__name')


@admin.register(models.ChangeSet)
class ChangeSetAdmin(ReadOnlyAdmin):
    list_display = ('seq', 'origin', 'applied_at', 'num_changes')
