"""What a usage sample holds, read from a RAM image (pure: no Django, no database): one row per
site and partition."""


def measure(inventory):
    """[[site, partition, quota, usage, projected_usage], ...] of every site and partition, by name."""
    rows = []
    for site in sorted(inventory.sites.values(), key=lambda s: s.name):
        for partition, sp in sorted(site.partitions.items(), key=lambda kv: kv[0].name):
            rows.append([site.name, partition.name, int(sp.quota), int(sp.usage(True)), int(sp.usage(False))])
    return rows
