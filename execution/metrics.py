"""Prometheus metrics of this server process, served at /metrics: the change-set sequence and
the lag behind the primary, change sets applied and their duration, applications by state, web
requests by module and status (with a latency histogram), the size of the RAM image.

Metrics are process-local counters; what is cluster-wide (applications) is read from the
database at scrape time. Later subsystems add theirs to the same registry (METRICS.registry).
"""
import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily

from execution.runtime import RUNTIME
from execution.topology import TOPOLOGY

log = logging.getLogger('dynamo.server')

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _Applications:
    """Applications by state (cluster-wide), counted when scraped."""

    def describe(self):
        return [GaugeMetricFamily('dynamo_applications', 'applications by state', labels=['state'])]

    def collect(self):
        from django.db import DatabaseError
        from django.db.models import Count

        from execution.models import Application
        family = GaugeMetricFamily('dynamo_applications', 'applications by state', labels=['state'])
        try:
            for row in Application.objects.values('state').annotate(n=Count('id')):
                family.add_metric([row['state']], row['n'])
        except DatabaseError:   # the cluster's database is out of reach: say nothing rather than fail
            pass
        yield family


class _Image:
    """Objects in the RAM image: sites, groups and datasets counted when scraped (cheap), blocks
    and replicas as counted at the last load (a full pass is not worth a scrape)."""

    def __init__(self):
        self.at_load = {}

    def describe(self):
        return [GaugeMetricFamily('dynamo_image_objects', 'objects in the RAM image', labels=['kind'])]

    def collect(self):
        family = GaugeMetricFamily('dynamo_image_objects', 'objects in the RAM image (blocks and replicas as of '
                                   'the last load)', labels=['kind'])
        counts = dict(self.at_load)
        inventory = RUNTIME.inventory
        if inventory is not None:
            counts.update(sites=len(inventory.sites), datasets=len(inventory.datasets),
                          groups=len(inventory.groups) - 1, partitions=len(inventory.partitions))
        for kind, n in sorted(counts.items()):
            family.add_metric([kind], n)
        yield family


class Metrics:
    def __init__(self):
        r = self.registry = CollectorRegistry()
        ProcessCollector(registry=r)
        self.seq = Gauge('dynamo_changeset_seq', 'last change set in the RAM image', registry=r)
        self.seq.set_function(lambda: RUNTIME.inventory.seq if RUNTIME.inventory is not None else 0)
        self.primary = Gauge('dynamo_server_is_primary', '1 on the primary, 0 on a secondary', registry=r)
        self.primary.set_function(lambda: 0 if TOPOLOGY.is_secondary else 1)
        self.lag_changesets = Gauge('dynamo_lag_changesets', 'change sets the primary committed that this '
                                    'image has not replayed yet', registry=r)
        self.lag_seconds = Gauge('dynamo_lag_seconds', 'age of the oldest change set not replayed yet', registry=r)
        self.changesets = Counter('dynamo_changesets_applied', 'change sets applied to the RAM image',
                                  ['how'], registry=r)
        self.changes = Counter('dynamo_changes_applied', 'object changes applied in change sets', registry=r)
        self.changeset_seconds = Histogram('dynamo_changeset_apply_seconds', 'time to apply one change set '
                                           '(RAM and database)', buckets=_SECONDS, registry=r)
        self.web_requests = Counter('dynamo_web_requests', 'web requests', ['kind', 'module', 'status'], registry=r)
        self.web_seconds = Histogram('dynamo_web_request_seconds', 'web request latency', ['kind', 'module'],
                                     buckets=_SECONDS, registry=r)
        self.image = _Image()
        r.register(self.image)
        self.load_seconds = Gauge('dynamo_image_load_seconds', 'duration of the last image load', registry=r)
        r.register(_Applications())

    def changeset_applied(self, applied):
        """Observer of inventory.services.apply_changeset."""
        if applied.num_changes:
            self.changesets.labels('committed').inc()
            self.changes.inc(applied.num_changes)
            self.changeset_seconds.observe(applied.elapsed)

    def changesets_replayed(self, count):
        if count:
            self.changesets.labels('replayed').inc(count)

    def observe_load(self, inventory, seconds):
        counts = {'sites': len(inventory.sites), 'groups': len(inventory.groups) - 1,
                  'datasets': len(inventory.datasets), 'partitions': len(inventory.partitions),
                  'blocks': sum(len(d.blocks) for d in inventory.datasets.values()),
                  'dataset_replicas': sum(len(s._dataset_replicas) for s in inventory.sites.values()),
                  'block_replicas': sum(len(dr.block_replicas) for s in inventory.sites.values()
                                        for dr in s.dataset_replicas())}
        self.image.at_load = counts
        self.load_seconds.set(seconds)
        self.observe_image(inventory, None)
        return counts

    def observe_image(self, inventory, follower):
        """Every heartbeat: the lag behind the primary."""
        if follower is not None:
            try:
                lag = follower.lag()
            except Exception:   # noqa: BLE001 - the primary's database may be out of reach
                return
            self.lag_changesets.set(lag['changesets'])
            self.lag_seconds.set(lag['seconds'])
        else:
            self.lag_changesets.set(0)
            self.lag_seconds.set(0)

    def web_request(self, *, kind, module, status, seconds):
        self.web_requests.labels(kind, module, str(status)).inc()
        self.web_seconds.labels(kind, module).observe(seconds)


METRICS = Metrics()
