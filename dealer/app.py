"""The Dealer's built-in cycle, run side: in the forked, confined, read-only application process,
parse the policy, load the plugins (and their outside data), run the cycle on the image and return
the plan as JSON for the commit (dealer/services.py:commit_cycle). Never writes anything.

params (Detox's names): `policy` (the text, required), `filename` (for messages and history),
`test` (a test run), `comment`, `seed` (overrides the policy's), `now` (UNIX time or ISO text;
default the clock). `policy_text`, `policy_file` and `test_run` are read as well.
"""
import dataclasses
import sys
import time

from dealer import cycle
from dealer import policy as dealer_policy
from dealer.plugins import LoadContext, PluginError, load_plugins
from policy import parse_now


def policy_of(params):
    """(text, filename) of a cycle's parameters."""
    text = params.get('policy', params.get('policy_text'))
    if not isinstance(text, str):
        raise dealer_policy.PolicyError('no policy given (parameter "policy": the text of the policy file)')
    return text, params.get('filename') or params.get('policy_file') or '<policy>'


def is_test(params):
    return bool(params.get('test', params.get('test_run')))


def run(inventory, params):
    started = time.time()
    try:
        text, filename = policy_of(params)
        policy = dealer_policy.parse(text, filename)
        if params.get('seed') is not None:
            policy = dataclasses.replace(policy, seed=int(params['seed']))
        plugins = load_plugins(policy)
        now = parse_now(params.get('now'))
        context = LoadContext(policy, policy.partition, now)
        loads = {}
        for plugin in plugins:
            t0 = time.monotonic()
            plugin.load(context)
            loads[f'load.{plugin.name}'] = time.monotonic() - t0
    except (dealer_policy.PolicyError, PluginError, ValueError, OSError, KeyError) as exc:
        sys.stderr.write(f'dealer: {exc}\n')
        raise SystemExit(2)
    plan = cycle.run(inventory, policy, plugins, now=now)
    plan.timings.update(loads)
    decide = plan.timings.get('decide', 0)
    print(f'dealer: {plan.num_proposals} proposals, {plan.num_accepted} accepted ({plan.volume} bytes), '
          f'decided in {decide:.2f} s', flush=True)
    return {
        'cycle': {'partition': policy.partition, 'policy_text': policy.text, 'policy_sha256': policy.sha256,
                  'policy_file': filename, 'seed': policy.seed, 'test_run': is_test(params),
                  'comment': str(params.get('comment') or ''), 'inventory_seq': inventory.seq,
                  'started': started, 'now': now, 'num_proposals': plan.num_proposals,
                  'num_accepted': plan.num_accepted, 'volume': plan.volume, 'rejections': plan.rejections,
                  'site_rejections': plan.site_rejections, 'plugins': plan.plugins, 'sites': plan.sites,
                  'rows_dropped': plan.rows_dropped,
                  'timings': {k: round(v, 4) for k, v in plan.timings.items()},
                  'proposals_per_second': plan.proposals_per_second},
        'decisions': plan.decisions,
        'placements': plan.placements,
        'commits': plan.commits,
    }
