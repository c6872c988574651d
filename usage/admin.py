from django.contrib import admin

from usage.models import UsageSample


@admin.register(UsageSample)
class UsageSampleAdmin(admin.ModelAdmin):
    list_display = ('time', 'site', 'partition', 'quota', 'usage', 'projected_usage', 'source')
    list_filter = ('source', 'partition')
    search_fields = ('site',)
    date_hierarchy = 'time'
