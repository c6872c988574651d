"""The interface of Dealer plugins, and their loading from the policy (a dotted class path each).

A plugin is a class `Plugin(config)` (config: the policy's "config" object for it) with:

- `load(context)`, optional: read outside data (files, the read-only database) before anything
  is decided; `context` is a LoadContext (the policy, the partition name, `now`). It runs in the
  cycle's confined process, as DYNAMO_APP_USER: files it reads must be readable by that account.
- `propose(view) -> iterable of Proposal`, required, pure: what the plugin wants copied, most
  wanted first. `view` is the cycle's CycleView (dealer/cycle.py): the RAM image, the policy,
  the target sites with their quota and usage, `now`. It must not change the inventory.
- `postprocess(view, outcomes) -> dict or None`, optional, pure: after the decisions, what the
  plugin's commit needs, as JSON-serializable data; `outcomes` are the (Proposal, Outcome) pairs
  of its own proposals, in its order.
- `commit`, optional class attribute: 'package.module:function', called by the server as
  `function(data, cycle_id=N)` inside the cycle's commit transaction with postprocess's data
  (never for a test run). The requests plugin records its requests' new states this way.
- `notes`: a list of strings the plugin may fill (shown with the cycle: why it proposed nothing).

The loader sets `plugin.name` (the key in the policy) and `plugin.priority`.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

from policy import load_class


@dataclass(frozen=True)
class Proposal:
    """A copy a plugin wants: `dataset` (all of it, or `blocks` of it), at one of `sites`
    (None: any target site; the Dealer chooses), owned by `group` (None: the policy's group).
    `reason` says why (shown with the decision); `request_id` ties it to a copy request; `item`
    is the request's item name (dataset or dataset#block) when it came from one."""
    dataset: str
    blocks: Optional[Tuple[str, ...]] = None
    sites: Optional[Tuple[str, ...]] = None
    group: Optional[str] = None
    reason: str = ''
    request_id: Optional[int] = None
    item: Optional[str] = None


@dataclass(frozen=True)
class LoadContext:
    policy: object
    partition: str
    now: float


class Plugin:
    """Base class (optional: any class with propose() will do)."""
    name = ''
    priority = 1.0
    commit = None

    def __init__(self, config=None):
        self.config = dict(config or {})
        self.notes = []

    def load(self, context):
        pass

    def propose(self, view):
        raise NotImplementedError

    def postprocess(self, view, outcomes):
        return None


class PluginError(ValueError):
    """A plugin that cannot be loaded or is misconfigured (names the plugin)."""


def load_plugins(policy):
    """Instances of the policy's plugins, in name order, with name and priority set."""
    plugins = []
    for spec in policy.plugins:
        try:
            cls = load_class(spec.module)
        except ValueError as exc:
            raise PluginError(f'plugin {spec.name}: {exc}') from None
        try:
            plugin = cls(spec.config)
        except (KeyError, TypeError, ValueError) as exc:
            raise PluginError(f'plugin {spec.name} ({spec.module}): bad config: {exc}') from None
        if not callable(getattr(plugin, 'propose', None)):
            raise PluginError(f'plugin {spec.name}: {spec.module} has no propose(view)')
        plugin.name = spec.name
        plugin.priority = spec.priority
        if not hasattr(plugin, 'notes'):
            plugin.notes = []
        plugins.append(plugin)
    return plugins
