"""Helpers shared by the test modules: comparable pictures of RAM images and of the database."""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / 'inventory' / 'fixtures' / 'demo.json'

# tables written by the inventory write path (row counts must not move when a write is refused)
INVENTORY_TABLES = ('dyn_partitions', 'dyn_sites', 'dyn_quotas', 'dyn_groups', 'dyn_datasets', 'dyn_blocks',
                    'dyn_files', 'dyn_dataset_replicas', 'dyn_block_replicas', 'dyn_block_replica_files',
                    'dyn_change_sets', 'dyn_change_set_chunks')


def demo_text():
    return DEMO.read_text()


def demo_doc():
    return json.loads(demo_text())


def _name(obj):
    return obj if obj is None or isinstance(obj, str) else obj.name


def image(inv, files=True):
    """Everything a user can see in a RAM image, as plain comparable data (object identity excluded).

    files=True also reads every block's file list through the installed file catalog.
    """
    datasets = {}
    for name, d in inv.datasets.items():
        blocks = {}
        for b in d.blocks:
            blocks[b.name] = {
                'id': b.id, 'size': b.size, 'num_files': b.num_files, 'is_open': b.is_open,
                'last_update': b.last_update,
                'replicas': sorted(br.site.name for br in b.replicas),
            }
            if files:
                blocks[b.name]['files'] = sorted((f.lfn, f.id, f.size, f.checksum) for f in b.files)
        datasets[name] = {
            'id': d.id, 'status': d.status.label, 'data_type': d.data_type.label,
            'software_version': d.software_version, 'last_update': d.last_update, 'is_open': d.is_open,
            'size': d.size, 'num_files': d.num_files, 'blocks': blocks,
            'replicas': sorted(r.site.name for r in d.replicas),
        }
    sites = {}
    for name, s in inv.sites.items():
        replicas = {}
        for dr in s.dataset_replicas():
            replicas[dr.dataset.name] = {
                'growing': dr.growing, 'group': _name(dr.group),
                'size': dr.size(), 'projected': dr.size(physical=False),
                'last_block_created': dr.last_block_created(),
                'complete': dr.is_complete(), 'full': dr.is_full(), 'partial': dr.is_partial(),
                'blocks': {br.block.name: {
                    'group': _name(br.group), 'custodial': br.is_custodial, 'size': br.size,
                    'num_files': br.num_files, 'last_update': br.last_update,
                    'complete': br.is_complete(),
                    'file_ids': None if br.file_ids is None else sorted(br.file_ids, key=str),
                } for br in dr.block_replicas},
            }
        partitions = {}
        for p, sp in s.partitions.items():
            partitions[p.name] = {
                'quota': sp.quota, 'usage': sp.usage(), 'projected': sp.usage(physical=False),
                'members': {dr.dataset.name: None if m is None else sorted(br.block.name for br in m)
                            for dr, m in sp.replicas.items()},
            }
        sites[name] = {
            'id': s.id, 'host': s.host, 'storage_type': s.storage_type.label, 'backend': s.backend,
            'status': s.status.label, 'filename_mapping': json.dumps(s.filename_mapping, sort_keys=True),
            'replicas': replicas, 'partitions': partitions,
        }
    groups = {name: (g.id, g.olevel.label) for name, g in inv.groups.items()}
    partitions = {name: (p.id, [q.name for q in p.subpartitions] if p.subpartitions else None,
                         p.condition.text if p.condition else None)
                  for name, p in inv.partitions.items()}
    return {'datasets': datasets, 'sites': sites, 'groups': groups, 'partitions': partitions}


def row_counts():
    """{table: number of rows} for the inventory tables, plus the current sequence number."""
    from django.db import connection
    counts = {}
    with connection.cursor() as c:
        for table in INVENTORY_TABLES:
            c.execute(f'SELECT COUNT(*) FROM {table}')
            counts[table] = c.fetchone()[0]
        c.execute('SELECT seq FROM dyn_inventory_state WHERE id = 1')
        row = c.fetchone()
        counts['seq'] = row[0] if row else 0
    return counts


def table_dump():
    """The rows of every inventory table (for 'nothing changed' checks finer than row counts)."""
    from django.db import connection
    dump = {}
    with connection.cursor() as c:
        for table in INVENTORY_TABLES:
            if table == 'dyn_change_set_chunks':
                c.execute(f'SELECT changeset_id, {connection.ops.quote_name("index")}, data FROM {table}')
            elif table == 'dyn_change_sets':
                c.execute(f'SELECT seq, origin, num_changes FROM {table}')
            else:
                c.execute(f'SELECT * FROM {table}')
            dump[table] = sorted(tuple(str(v) for v in row) for row in c.fetchall())
    return dump


def load_image():
    """A fresh RAM image from the database: (inventory, seq) with inventory.seq set."""
    from inventory import store
    inv, seq = store.load()
    inv.seq = seq
    return inv


def apply(inv, builder=None, operations=None, origin='test'):
    from inventory import services
    return services.apply_changeset(inventory=inv, origin=origin, builder=builder, operations=operations)


def inject(inv, doc, delete=False):
    """Apply an injection (or, delete=True, invalidation) document through the Python API."""
    from inventory import injection
    text = doc if isinstance(doc, str) else json.dumps(doc)
    parsed = injection.parse_document(text)
    action = injection.invalidate if delete else injection.inject
    return apply(inv, builder=lambda i: action(i, parsed))
