"""Read-only admin for the inventory: every change must go through the write path
(dynamo_inject, applications, web writes) so the RAM image and the database never disagree."""
import datetime

from django.contrib import admin

from dynamo_site.cli import human_size
from inventory import models

NOTE = ' (read-only here: change the inventory with dynamo_inject or an application)'


def when(seconds):
    """A UNIX time as operators read it."""
    if not seconds:
        return '-'
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')


def _updated(obj):
    return when(obj.last_update)


_updated.short_description = 'last update'
_updated.admin_order_field = 'last_update'


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


class QuotaInline(admin.TabularInline):
    model = models.Quota
    fields = ('partition', 'quota_bytes', 'readable')
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = 'partitions and quotas (set with set_quota)'

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description='quota (bytes)')
    def quota_bytes(self, quota):
        return quota.quota

    @admin.display(description='quota')
    def readable(self, quota):
        return 'unlimited' if quota.quota < 0 else ('none' if quota.quota == 0 else human_size(quota.quota))


@admin.register(models.Site)
class SiteAdmin(ReadOnlyAdmin):
    list_display = ('name', 'host', 'storage_type', 'status', 'backend')
    search_fields = ('name',)
    list_filter = ('storage_type', 'status')
    inlines = [QuotaInline]


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
    list_display = ('name', 'status', 'data_type', 'is_open', _updated)
    search_fields = ('name',)
    list_filter = ('status', 'data_type')


@admin.register(models.Block)
class BlockAdmin(ReadOnlyAdmin):
    list_display = ('name', 'dataset', 'readable_size', 'num_files', 'is_open', _updated)

    @admin.display(description='size', ordering='size')
    def readable_size(self, block):
        return human_size(block.size)
    list_select_related = ('dataset',)
    search_fields = ('name', 'dataset__name')


@admin.register(models.DatasetReplica)
class DatasetReplicaAdmin(ReadOnlyAdmin):
    list_display = ('dataset', 'site', 'growing', 'group')
    list_select_related = ('dataset', 'site', 'group')
    search_fields = ('dataset__name', 'site__name')


@admin.register(models.BlockReplica)
class BlockReplicaAdmin(ReadOnlyAdmin):
    list_display = ('block_name', 'site', 'owner', 'is_complete', 'is_custodial', 'present', _updated)
    list_select_related = ('block__dataset', 'site', 'group')
    search_fields = ('block__name', 'block__dataset__name', 'site__name')

    @admin.display(description='block', ordering='block__dataset__name')
    def block_name(self, replica):
        return f'{replica.block.dataset.name}#{replica.block.name}'

    @admin.display(description='owner')
    def owner(self, replica):
        return replica.group.name if replica.group_id else '(none: being deleted)'

    @admin.display(description='present')
    def present(self, replica):
        return human_size(replica.block.size if replica.is_complete else replica.size or 0)


@admin.register(models.ChangeSet)
class ChangeSetAdmin(ReadOnlyAdmin):
    list_display = ('seq', 'origin', 'applied_at', 'num_changes')
