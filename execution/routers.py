"""The database router: the cluster's models live in the cluster's database (the primary's), the
inventory store in each server's own. The list of cluster apps (settings.DYNAMO_CLUSTER_APPS) is
also what failover shadows (execution/cluster/failover.py)."""
from django.apps import apps
from django.conf import settings

from execution.topology import DEFAULT, TOPOLOGY


def cluster_models():
    """Every model kept in the cluster's database, parents before children (for copying)."""
    models = [m for m in apps.get_models(include_auto_created=True)
              if m._meta.app_label in settings.DYNAMO_CLUSTER_APPS and m._meta.managed and not m._meta.proxy]
    ordered, seen = [], set()

    def visit(model):
        if model in seen:
            return
        seen.add(model)
        for field in model._meta.concrete_fields:
            target = field.related_model
            if target is not None and target is not model and target in models:
                visit(target)
        ordered.append(model)
    for model in models:
        visit(model)
    return ordered


class ClusterRouter:
    def db_for_read(self, model, **hints):
        if model._meta.app_label in settings.DYNAMO_CLUSTER_APPS:
            return TOPOLOGY.cluster_alias
        return None

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # every server migrates its own database only (any of them may become the primary)
        return db == DEFAULT
