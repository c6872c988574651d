"""/web/detox in a real headless Chromium against a real server with the demo inventory, its
partitions and quotas, after a Detox test cycle: the per-site bars, the policy with its hits, the
decisions table and its filters, and no console error."""
import pytest

from tests.conftest import manage
from tests.webmodules.helpers import CERN, MIT
from tests.webmodules.test_browser import browser, tab, texts  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e

POLICY = """\
Partition Default
On site.name == T*
When site.occupancy > 0.85
Until site.occupancy < 0.5
Protect replica.incomplete
Delete dataset.name == /Nope/*/*
Dismiss dataset.name == /SingleMuon/*/*
Protect
Order increasing replica.last_block_created
"""


@pytest.fixture
def web(make_web):
    server = make_web()
    env = server.env
    for args in (('dynamo_partitions', '--load', 'inventory/fixtures/partitions.txt'),
                 ('set_quota', '--site', MIT, '--partition', 'Default', '--volume', '10GB'),
                 ('set_quota', '--site', CERN, '--partition', 'Default', '--volume', '20GB')):
        r = manage(*args, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
    return server


def test_the_page_without_any_cycle_says_so(web, tab):  # noqa: F811
    t = tab(web.client.url)
    page = t.goto('/web/detox/')
    page.wait_for_function("document.getElementById('cycle-summary').textContent.includes('No Detox cycle')")
    assert t.page_problems() == []


def test_the_page_draws_the_bars_the_policy_and_filters_the_decisions(web, tab, tmp_path):  # noqa: F811
    # given: a test cycle
    policy = tmp_path / 'detox.txt'
    policy.write_text(POLICY)
    r = manage('detox', '--policy', str(policy), '--test-run', '--max-cycle-fraction', '1', env=web.env)
    assert r.returncode == 0, r.stdout + r.stderr
    cycle = web.client.data('detox/cycle', params={'id': 'latest'})
    # when
    t = tab(web.client.url)
    page = t.goto('/web/detox/')
    page.wait_for_selector('#site-bars svg g.site-bar')
    page.wait_for_selector('#decisions-table table.data tbody tr')
    # then: one stacked bar per target site, segments as wide as their bytes, the quota marked
    bars = page.locator('#site-bars g.site-bar')
    assert bars.count() == 2 and [bars.nth(i).get_attribute('data-site') for i in range(2)] == [CERN, MIT]
    sites = {s['site']: s for s in cycle['sites']}
    assert sites[MIT]['triggered'] and sites[MIT]['deleted'] == 7.5e9 and sites[MIT]['protected'] == 1.5e9
    for i, name in enumerate([CERN, MIT]):
        for part in ('protected', 'kept', 'deleted'):
            rect = bars.nth(i).locator(f'rect.bar-{part}')
            assert int(rect.get_attribute('data-bytes')) == sites[name][part]
            assert (float(rect.get_attribute('width')) > 0) == (sites[name][part] > 0), (name, part)
        assert bars.nth(i).locator('line.bar-quota').count() == 1
    mit = bars.nth(1)
    assert float(mit.locator('rect.bar-deleted').get_attribute('width')) == pytest.approx(
        5 * float(mit.locator('rect.bar-protected').get_attribute('width')), rel=1e-3)     # 7.5 GB vs 1.5 GB
    assert '90.0 % → 15.0 %' in mit.locator('text').all_text_contents()[-1]
    # the policy, line by line, with the decisions each made; a line that never matched is marked
    lines = page.locator('#policy-lines tbody tr')
    by_line = {int(lines.nth(i).get_attribute('data-line')): lines.nth(i) for i in range(lines.count())}
    assert by_line[7].locator('td').all_inner_texts() == ['7', 'Dismiss dataset.name == /SingleMuon/*/*', '2',
                                                          '15.00 GB']
    assert by_line[6].get_attribute('class') == 'never'
    assert 'never matched' in page.locator('#cycle-warnings').inner_text()
    # the decisions table, and its filters
    assert page.locator('#decision-count').inner_text() == f'{cycle["num_decisions"]} decisions'
    page.fill('#decision-site', 'T2_*')
    page.click('#decision-apply')
    page.wait_for_function("document.getElementById('decision-count').textContent === '2 decisions'")
    assert set(texts(page, '#decisions-table tbody tr td:nth-child(1)')) == {MIT}
    page.select_option('#decision-kind', 'delete')
    page.click('#decision-apply')
    page.wait_for_function("document.getElementById('decision-count').textContent === '1 decisions'")
    row = page.locator('#decisions-table tbody tr').first.locator('td').all_inner_texts()
    assert row == [MIT, '/SingleMuon/Run2026A-PromptReco-v1/MINIAOD', 'delete', 'all', '7.50 GB', '7',
                   'Dismiss dataset.name == /SingleMuon/*/*']
    assert t.page_problems() == []
