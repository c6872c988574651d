"""A secondary follows the primary's change-set log in real time: every change set is replayed in
sequence order through the same write path, with the primary's ids, and must produce the
primary's chained digest; a gap or a mismatch raises OutOfSync (the server then resynchronizes)."""
from django.conf import settings
from django.utils import timezone

from execution.topology import PRIMARY
from inventory import services as inventory_services
from inventory import store
from inventory.models import ChangeSet


class Follower:
    """Applies the primary's change sets to this server's image (and local store), in order."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.local = settings.DYNAMO_LOCAL_STORE
        self.primary_seq = 0

    def lag(self):
        inventory = self.runtime.inventory
        seconds = 0.
        if inventory is not None and self.primary_seq > inventory.seq:
            pending = ChangeSet.objects.using(PRIMARY).filter(seq=inventory.seq + 1).values_list(
                'applied_at', flat=True).first()
            if pending is not None:
                seconds = max(0., (timezone.now() - pending).total_seconds())
        return {'changesets': max(0, self.primary_seq - (inventory.seq if inventory else 0)), 'seconds': round(seconds, 3)}

    def catch_up(self, inventory):
        """Replay everything the primary committed into a freshly loaded (not yet served) image."""
        total = 0
        while True:
            applied = self.step(inventory=inventory)
            if not applied:
                return total
            total += applied

    def step(self, limit=50, inventory=None):
        """Replay what the primary committed since; returns the number of change sets applied.
        Raises OutOfSync when this image cannot follow (the caller resynchronizes)."""
        inventory = inventory or self.runtime.inventory
        self.primary_seq = store.current_seq(PRIMARY)
        if self.primary_seq <= inventory.seq:
            if self.primary_seq < inventory.seq:
                raise inventory_services.OutOfSync(
                    f'this image is at change set {inventory.seq}, ahead of the primary ({self.primary_seq})')
            return 0
        sets = list(ChangeSet.objects.using(PRIMARY).filter(seq__gt=inventory.seq).order_by('seq')
                    .values_list('seq', 'origin', 'digest')[:limit])
        applied = 0
        for seq, origin, digest in sets:
            if seq != inventory.seq + 1:
                raise inventory_services.OutOfSync(f'change set {inventory.seq + 1} is missing from the primary\'s log')
            operations = list(inventory_services.read_changeset(seq, using=PRIMARY))
            try:
                if self.local:
                    inventory_services.apply_changeset(
                        inventory=inventory, origin=origin, operations=operations, keep_ids=True,
                        expect=(seq, digest), ram_lock=self.runtime.lock.write)
                else:
                    with self.runtime.lock.write():
                        inventory_services.replay(inventory, seq, operations, digest)
            except (inventory_services.OutOfSync, inventory_services.ImageLost):
                raise
            except Exception as exc:
                raise inventory_services.OutOfSync(f'change set {seq} could not be replayed: {exc}') from exc
            inventory.digest = digest
            applied += 1
        return applied
