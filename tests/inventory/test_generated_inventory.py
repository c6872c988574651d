"""The synthetic inventory of bench/generate.py (issue #11, item 7): generated on the test database,
it loads and takes change sets like any other; a failed generation leaves no half inventory."""
import subprocess
import sys

import pytest

from inventory import services
from inventory.objects import Dataset, to_dict
from tests.conftest import ROOT, database_url
from tests.support import load_image, row_counts

pytestmark = pytest.mark.django_db(transaction=True)


def state_row():
    from inventory.models import InventoryState
    return InventoryState.objects.values_list('seq', 'digest').get(id=1)


def test_small_preset_with_migrate_fills_the_tables_and_takes_change_sets():
    # given: a state row left by earlier writes
    from inventory.models import InventoryState
    InventoryState.objects.update_or_create(id=1, defaults={'seq': 41, 'digest': 'f' * 64})
    # when
    r = subprocess.run([sys.executable, str(ROOT / 'bench' / 'generate.py'), '--preset', 'small', '--migrate',
                        '--db-url', database_url()], capture_output=True, text=True, timeout=300, cwd=str(ROOT))
    # then
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    counts = row_counts()
    assert (counts['dyn_datasets'], counts['dyn_blocks'], counts['dyn_sites']) == (1000, 12500, 20)
    assert counts['dyn_change_sets'] == 0
    assert state_row() == (0, '')
    inv = load_image()
    assert len(inv.datasets) == 1000 and inv.seq == 0
    name = sorted(inv.datasets)[0]
    clone = inv.datasets[name].unlinked_clone()
    clone.status = 'invalid'
    applied = services.apply_changeset(inventory=inv, origin='test', operations=[('u', to_dict(clone))])
    assert applied.seq == 1
    assert load_image().datasets[name].status.label == 'invalid'


def test_a_failed_generation_leaves_empty_tables(monkeypatch):
    # given: a generation that fails at its last step (after every row is written)
    sys.path.insert(0, str(ROOT / 'bench'))
    try:
        import generate
    finally:
        sys.path.remove(str(ROOT / 'bench'))
    services.apply_changeset(inventory=load_image(), origin='test',
                             operations=[('u', to_dict(Dataset('/Before/Generation-v1/RAW')))])

    def fail(self):
        raise RuntimeError('disk full')
    monkeypatch.setattr(generate.Writer, 'analyze', fail)
    # when
    with pytest.raises(RuntimeError, match='disk full'):
        generate.main(['--preset', 'small', '--db-url', database_url()])
    # then
    counts = row_counts()
    assert {t: n for t, n in counts.items() if n and t not in ('dyn_partitions', 'seq')} == {}
    assert state_row() == (0, '')
