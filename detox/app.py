"""The computing half of a Detox cycle: it runs in a forked, confined, read-only application (as
DYNAMO_APP_USER, with a read-only database connection), applies the policy to the RAM image
(detox.cycle) and returns the plan as JSON for the commit (detox/services.py), with what every
decision was taken on, so that the commit can leave alone what changed meanwhile.

It never changes the inventory; what it prints is streamed to whoever started it.
"""
from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import asdict

from detox import cycle, policyfile
from policy import ConfigurationError, Locks, PolicyError, Providers, parse_now, provider_from_config
from policy.units import format_size


def _fail(message: str):
    sys.stderr.write(message.rstrip('\n') + '\n')
    raise SystemExit(2)


def providers(entries, now: float) -> Providers:
    """The configured attribute providers, and the lock store for blockreplica.is_locked (unless
    the configuration names another lock source)."""
    from detox import selectors
    configured = [provider_from_config(entry) for entry in entries or ()]
    if not any('blockreplica.is_locked' in p.provides for p in configured):
        configured.append(Locks(selectors.lock_list(now)))
    return Providers(configured)


def _policy(params, now):
    try:
        return policyfile.parse(params['policy'], params.get('filename') or '<policy>',
                                providers=providers(params.get('providers'), now), now=now)
    except (PolicyError, ConfigurationError) as exc:
        _fail(str(exc))


def fingerprint(br) -> list:
    """What a decision on the block replica `br` was taken on: owner, last update, bytes present,
    complete (the commit applies it only if they are still the same)."""
    return [br._st[0].name, br.last_update, br.size, br.is_complete()]


def run(inventory, params: dict) -> dict:
    """params: policy (text), filename, test (bool), comment, now (UNIX time or ISO text; default
    the clock), force, max_cycle_fraction (0.1), providers (configuration entries), keep_cycles
    (how many cycles keep their decision rows; default DYNAMO_DETOX_KEEP_CYCLES)."""
    started = time.time()
    now = parse_now(params.get('now'))
    policy = _policy(params, now)
    locks_read = time.time()
    print(f'policy {policy.filename} (partition {policy.partition}, {len(policy.lines)} policy lines), '
          f'now {time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}', flush=True)
    try:
        plan = cycle.run(inventory, policy, max_cycle_fraction=float(params.get('max_cycle_fraction', 0.1)),
                         force=bool(params.get('force')))
    except ValueError as exc:
        _fail(f'{policy.filename}: {exc}')
    t0 = time.perf_counter()
    test = bool(params.get('test'))
    result = encode(inventory, plan, fingerprints=not test)
    result.update(kind='cycle', test=test, comment=str(params.get('comment') or ''),
                  filename=policy.filename, policy=policy.text,
                  sha256=hashlib.sha256(policy.text.encode()).hexdigest(), now=now, started=started,
                  computed=time.time(), locks_read=locks_read,
                  reads_locks='blockreplica.is_locked' in policy.variables, keep_cycles=params.get('keep_cycles'))
    result['timings']['encode'] = time.perf_counter() - t0
    triggered = [s for s in plan.sites if s.triggered]
    print(f'computed in {time.time() - started:.1f} s: {len(plan.sites)} target sites, {len(triggered)} triggered, '
          f'{plan.iterations} iterations, {len(plan.decisions)} decisions, {len(plan.deletions)} replicas to '
          f'delete in whole or in part ({format_size(plan.deleted_bytes)})', flush=True)
    if plan.stopped:
        print(f'stopped: {plan.stop_reason}', flush=True)
    return result


def encode(inventory, plan, *, fingerprints: bool = True) -> dict:
    """The plan as JSON: decision rows, and per deleted or handed-over block replica its name and
    (for a commit, `fingerprints`) what it was decided on."""
    delete_lines = {}
    hits = {}
    for d in plan.decisions:
        count = hits.setdefault(d.line, [0, 0])
        count[0] += 1
        count[1] += d.size
        if d.decision == 'delete':
            lines = delete_lines.setdefault((d.site, d.dataset), {})
            for block in d.blocks or (None,):
                lines[block] = d.line
    deletions = []
    for d in plan.deletions:
        replica = inventory.sites[d.site].find_dataset_replica(d.dataset)
        lines = delete_lines.get((d.site, d.dataset), {})
        if d.blocks is None:
            brs = list(replica.block_replicas)
        else:
            wanted = set(d.blocks)
            brs = [br for br in replica.block_replicas if br.block.name in wanted]
        if fingerprints:
            blocks = [[br.block.name] + fingerprint(br) + [lines.get(br.block.name, lines.get(None, 0))] for br in brs]
        else:
            blocks = [[br.block.name] for br in brs]
        deletions.append([d.site, d.dataset, d.blocks is None, blocks, lines.get(None, 0) if not brs else 0])
    handovers = []
    for h in plan.handovers:
        br = inventory.sites[h.site].find_dataset_replica(h.dataset).find_block_replica(h.block)
        handovers.append([h.site, h.dataset, h.block, h.group] + (fingerprint(br) if fingerprints else []))
    return {
        'partition': plan.partition,
        'sites': [asdict(s) for s in plan.sites],
        'decisions': [[d.site, d.dataset, d.decision, list(d.blocks) if d.blocks is not None else None, d.size, d.line]
                      for d in plan.decisions],
        'deletions': deletions,
        'handovers': handovers,
        'hits': hits,
        'iterations': plan.iterations,
        'replica_evaluations': plan.replica_evaluations,
        'line_evaluations': plan.line_evaluations,
        'ns_per_line_evaluation': plan.ns_per_line_evaluation,
        'timings': dict(plan.timings),
        'warnings': list(plan.warnings),
        'used_bytes': plan.used_bytes,
        'deleted_bytes': plan.deleted_bytes,
        'stopped': plan.stopped,
        'stop_reason': plan.stop_reason,
    }


def run_explain(inventory, params: dict) -> dict:
    """params: policy, filename, site, dataset, now, providers. Which line decided for the replica
    and the value of every variable it and the lines above it read."""
    now = parse_now(params.get('now'))
    policy = _policy(params, now)
    try:
        e = cycle.explain(inventory, policy, params['site'], params['dataset'])
    except ValueError as exc:
        _fail(f'{policy.filename}: {exc}')
    return {'kind': 'explain', 'site': e.site, 'dataset': e.dataset, 'in_image': e.in_image, 'reason': e.reason,
            'iteration': e.iteration, 'text': e.as_text(), 'now': now, 'partition': policy.partition,
            'decisions': [[d.site, d.dataset, d.decision, list(d.blocks) if d.blocks is not None else None,
                           d.size, d.line, d.text] for d in e.decisions],
            'lines': [{'line': t.number, 'text': t.text, 'action': t.action, 'block_level': t.block_level,
                       'matched': t.matched, 'blocks': list(t.blocks) if t.blocks is not None else None,
                       'values': [[name, value] for name, value in t.values]} for t in e.lines]}
