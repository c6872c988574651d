"""Built-in cycles (Detox, Dealer, the updater, ...): applications whose code is the project's own.

A cycle is two functions, registered by its app in AppConfig.ready():

- `run(inventory, params) -> dict` computes in a forked, confined, read-only application process
  (the RAM image, no writer lock held meanwhile) and returns a JSON-serializable result;
- `commit(result, context) -> dict` runs afterwards in the server (trusted code, the primary's
  loop) holding the writer lease, applies what the result says through the write path
  (`context.apply`) and records history; what it returns is the cycle's summary (the record's
  `result`).

This module is the registry and the commit's context; it knows nothing of any particular cycle.
"""
import importlib
from dataclasses import dataclass

from inventory import services as inventory_services

REGISTRY = {}


@dataclass(frozen=True)
class Builtin:
    name: str
    run: str              # 'package.module:function'
    commit: str
    target: str           # operators and admins of this role target may start it
    title: str


def register(*, name, run, commit, target, title=None):
    REGISTRY[name] = Builtin(name, run, commit, target, title or name)


def get(name):
    try:
        return REGISTRY[name]
    except KeyError:
        raise LookupError(f'no built-in cycle {name!r} (known: {", ".join(sorted(REGISTRY)) or "none"})') from None


def resolve(dotted):
    module, _, function = dotted.partition(':')
    return getattr(importlib.import_module(module), function)


@dataclass
class CommitContext:
    """What a cycle's commit works with: its application record, the server's image and lock."""
    app: object
    runtime: object

    @property
    def inventory(self):
        return self.runtime.inventory

    def apply(self, builder, *, origin=None):
        """Apply builder(inventory) as one change set (the writer lease is held meanwhile);
        returns the AppliedChangeSet. Raises ObjectError when it is refused (nothing changed)."""
        return inventory_services.apply_changeset(inventory=self.runtime.inventory,
                                                  origin=origin or f'application {self.app.id}',
                                                  builder=builder, ram_lock=self.runtime.lock.write)
