"""Detox: the deletion agent. Pure core here (policy file, cycle over a RAM image -> a plan);
committing a plan, the command, tasks and the web module come on top of it.

    detox.policyfile.parse(text, filename, *, providers, now, check) -> Policy
    detox.cycle.run(inventory, policy, *, now, max_cycle_fraction=0.1, force=False) -> Plan
    detox.cycle.explain(inventory, policy, site, dataset, *, now) -> Explanation
"""
