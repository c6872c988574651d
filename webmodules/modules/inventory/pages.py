"""HTML pages of the inventory module: shells that load their data from /data/inventory/..."""
from webmodules.base import HTMLMixin, WebModule


class _Page(HTMLMixin, WebModule):
    def run(self, caller, request, inventory):
        return self.page(caller=caller, context={'params': {k: v for k, v in request.items() if isinstance(v, str)}})


class SiteUsagePage(_Page):
    """Site usage per partition as bar charts (quota, usage, projected usage)."""
    title = 'Site usage'
    template = 'webmodules/inventory/sites.html'
    scripts = ('webmodules/inventory_sites.js',)


class DatasetSearchPage(_Page):
    """Dataset search by name pattern."""
    title = 'Datasets'
    template = 'webmodules/inventory/datasets.html'
    scripts = ('webmodules/inventory_datasets.js',)


class ReplicaTablePage(_Page):
    """Block replicas of the datasets matching a pattern, as a sortable, paged table."""
    title = 'Replicas'
    template = 'webmodules/inventory/replicas.html'
    scripts = ('webmodules/inventory_replicas.js',)
