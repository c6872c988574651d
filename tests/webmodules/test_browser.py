"""The pages in a real headless Chromium (playwright) against a real server with the demo inventory:
site charts, dataset and replica tables (sorting, paging) and the applications page."""
import json
import os
import textwrap

import pytest

from tests.conftest import AS_READER, make_reader, manage
from tests.webmodules.helpers import CERN, DEMO_DATASETS, MIT, MUON

pytestmark = pytest.mark.e2e

CHROMIUM = '/usr/bin/chromium'
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run']
BIG = '/Paging/Run2026C-v1/AOD'
NUM_BIG_BLOCKS = 30


@pytest.fixture
def browser(web):
    """Chromium for one test. It depends on `web` so that it closes (and playwright's event loop with
    it) before the test database is flushed: Django refuses database calls while a loop runs."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f'{CHROMIUM} is missing (install the chromium package)')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


class Page:
    """A browser tab that records console messages, page errors and failed requests."""

    def __init__(self, browser, base, headers=None):
        self.base = base
        self.context = browser.new_context(extra_http_headers=headers or {})
        self.page = self.context.new_page()
        self.page.set_default_timeout(15000)
        self.problems = []
        self.page.on('console', lambda m: self.problems.append(f'console {m.type}: {m.text} ({m.location})'))
        self.page.on('pageerror', lambda e: self.problems.append(f'page error: {e}'))
        self.page.on('requestfailed', lambda r: self.problems.append(f'request failed: {r.url} {r.failure}'))
        self.page.on('response', lambda r: r.status >= 400 and self.problems.append(f'HTTP {r.status}: {r.url}'))

    def goto(self, path):
        response = self.page.goto(self.base + path, wait_until='networkidle')
        assert response.status == 200, (path, response.status)
        return self.page

    def page_problems(self):
        """Problems of the pages themselves: everything but the browser's own /favicon.ico request
        (checked on its own in test_pages_load_without_any_console_error)."""
        return [p for p in self.problems if '/favicon.ico' not in p]

    def close(self):
        self.context.close()


@pytest.fixture
def tab(browser):
    tabs = []

    def open_(base, headers=None):
        t = Page(browser, base, headers)
        tabs.append(t)
        return t
    yield open_
    for t in tabs:
        t.close()


@pytest.fixture
def web(make_web, tmp_path):
    """A server with the demo inventory plus a dataset of many blocks (for paging)."""
    doc = {'dataset': [{'name': BIG, 'status': 'valid', 'data_type': 'production',
                        'blocks': [{'name': f'blk-{i:03d}', 'files': [{'name': f'/store/paging/{i:03d}.root',
                                                                       'size': 1000 * (i + 1)}]}
                                   for i in range(NUM_BIG_BLOCKS)]}],
           'datasetreplica': [{'dataset': BIG, 'site': MIT}]}
    r = manage('dynamo_inject', 'inventory/fixtures/demo.json')
    assert r.returncode == 0, r.stderr
    path = tmp_path / 'big.json'
    path.write_text(json.dumps(doc))
    r = manage('dynamo_inject', str(path))
    assert r.returncode == 0, r.stderr
    make_reader()
    return make_web(demo=False, env={'DYNAMO_WEB_DN_HEADER': 'X-DN'})


def texts(page, selector):
    return page.locator(selector).all_inner_texts()


def column(page, container, index):
    return page.locator(f'#{container} table.data tbody tr td:nth-child({index})').all_inner_texts()


def test_site_usage_page_draws_one_bar_chart_per_site(web, tab):
    t = tab(web.client.url)
    page = t.goto('/web/inventory/sites')
    page.wait_for_selector('#charts .chart svg')
    sites = web.client.data('inventory/sites')
    charts = page.locator('#charts .chart')
    assert charts.count() == len(sites) == 2
    titles = texts(page, '#charts .chart h2')
    assert [title.split(' ')[0] for title in titles] == [s['name'] for s in sites] == [CERN, MIT]
    for i, site in enumerate(sites):
        svg = charts.nth(i).locator('svg')
        assert svg.get_attribute('aria-label') == titles[i]
        # one usage bar and one projected bar per partition, with a width that follows the data
        usage = svg.locator('rect.bar-usage')
        assert usage.count() == len(site['partitions']) >= 1
        assert svg.locator('rect.bar-projected').count() == len(site['partitions'])
        widths = [float(usage.nth(j).get_attribute('width')) for j in range(usage.count())]
        for width, partition in zip(widths, site['partitions']):
            assert (width > 0) == (partition['usage'] > 0), (site['name'], partition, width)
        assert any(w > 0 for w in widths), (site['name'], widths)
        labels = svg.locator('text').all_text_contents()
        assert labels == [p['name'] for p in site['partitions']]
        box = svg.bounding_box()
        assert box['width'] > 0 and box['height'] > 0

    # filtering redraws: only MIT
    page.fill('#site-filter', 'T2_*')
    page.click('#site-apply')
    page.wait_for_function("document.querySelectorAll('#charts .chart').length === 1")
    assert texts(page, '#charts .chart h2')[0].startswith(MIT)
    assert t.page_problems() == []


def test_dataset_table_lists_the_datasets_and_sorts_on_header_click(web, tab):
    t = tab(web.client.url)
    page = t.goto('/web/inventory/datasets')
    page.wait_for_selector('#datasets-table table.data tbody tr')
    data = web.client.data('inventory/datasets')
    names = column(page, 'datasets-table', 1)
    assert sorted(names) == sorted(DEMO_DATASETS + [BIG])
    assert names == [d['name'] for d in data]
    row = page.locator('#datasets-table tbody tr', has_text=MUON)
    cells = row.locator('td').all_inner_texts()
    muon = next(d for d in data if d['name'] == MUON)
    assert cells[1] == 'valid' and cells[3] == str(muon['num_blocks']) and cells[4] == str(muon['num_files'])
    assert cells[6] == f'{CERN}, {MIT}'

    by_size = [d['name'] for d in sorted(data, key=lambda d: d['size'])]
    assert by_size != names   # the test would not see a sort otherwise
    page.click('#datasets-table th[data-key="size"]')
    assert column(page, 'datasets-table', 1) == by_size
    assert page.locator('#datasets-table th[data-key="size"]').get_attribute('class') == 'sorted-asc'
    page.click('#datasets-table th[data-key="size"]')
    assert column(page, 'datasets-table', 1) == by_size[::-1]
    assert page.locator('#datasets-table th[data-key="size"]').get_attribute('class') == 'sorted-desc'
    page.click('#datasets-table th[data-key="name"]')
    assert column(page, 'datasets-table', 1) == sorted(names)

    # searching with a pattern
    page.fill('#dataset-pattern', '/SingleMuon/*')
    page.click('#dataset-form button[type="submit"]')
    page.wait_for_function("document.querySelectorAll('#datasets-table tbody tr').length === 1")
    assert column(page, 'datasets-table', 1) == [MUON]
    assert t.page_problems() == []


def test_replica_table_pages_and_sorts(web, tab):
    t = tab(web.client.url)
    page = t.goto('/web/inventory/replicas')
    page.wait_for_selector('#replicas-table table.data tbody tr')
    blocks = web.client.data('inventory/blockreplicas?dataset=/*')
    rows = [(f"{b['dataset']}#{b['block']}", r['site'], r['num_files']) for b in blocks for r in b['replicas']]
    total = len(rows)
    assert total == NUM_BIG_BLOCKS + 6
    info = page.locator('#replicas-table .page-info')
    assert info.inner_text() == f'page 1 of 2 · {total} rows'
    first = column(page, 'replicas-table', 1)
    assert len(first) == 25

    page.click('#replicas-table button.next')
    assert info.inner_text() == f'page 2 of 2 · {total} rows'
    second = column(page, 'replicas-table', 1)
    assert len(second) == total - 25
    assert sorted(first + second) == sorted(r[0] for r in rows)
    page.click('#replicas-table button.next')   # stays on the last page
    assert info.inner_text() == f'page 2 of 2 · {total} rows'
    page.click('#replicas-table button.prev')
    assert column(page, 'replicas-table', 1) == first

    # sorting by site puts the CERN replicas first; clicking again puts them last
    page.click('#replicas-table th[data-key="site"]')
    sites = column(page, 'replicas-table', 2)
    num_cern = sum(1 for r in rows if r[1] == CERN)
    assert sites[:num_cern] == [CERN] * num_cern and set(sites[num_cern:]) == {MIT}
    page.click('#replicas-table th[data-key="site"]')
    assert set(column(page, 'replicas-table', 2)) == {MIT}
    page.click('#replicas-table button.next')
    assert column(page, 'replicas-table', 2)[-num_cern:] == [CERN] * num_cern

    # filtering by site
    page.fill('#replica-site', CERN)
    page.click('#replica-form button[type="submit"]')
    page.wait_for_function("n => document.querySelector('#replicas-table .page-info').textContent"
                           ".includes(`· ${n} rows`)", arg=num_cern)
    assert info.inner_text() == f'page 1 of 1 · {num_cern} rows'
    assert t.page_problems() == []


def test_applications_page_lists_an_application_and_shows_its_output(web, tab, tmp_path):
    script = tmp_path / 'hello.py'
    script.write_text(textwrap.dedent('''\
        from dynamo.core.executable import inventory
        print('browser hello:', len(inventory.datasets), 'datasets')
        '''))
    r = manage('dynamo', str(script), '--title', 'BrowserHello', env=web.env)
    assert r.returncode == 0, r.stdout + r.stderr
    app = web.client.data('applications/list')[0]
    assert app['title'] == 'BrowserHello' and app['state'] == 'done'

    t = tab(web.client.url, headers=AS_READER)   # an operator (exit codes and output are not for anonymous callers)
    page = t.goto('/web/applications/')
    page.wait_for_selector('#apps-table table.data tbody tr')
    row = page.locator('#apps-table tbody tr', has_text='BrowserHello')
    assert row.count() == 1
    cells = row.locator('td').all_inner_texts()
    assert cells[0] == str(app['id']) and cells[3] == 'done' and cells[4] == '0'
    assert page.locator('#app-output').inner_text() == 'Select an application.'
    row.click()
    page.wait_for_function("document.getElementById('app-output').textContent.includes('browser hello')")
    assert page.locator('#app-output').inner_text().strip() == f'browser hello: {len(DEMO_DATASETS) + 1} datasets'
    assert page.locator('#output-title').inner_text() == f"of application {app['id']} (done)"
    assert 'selected' in row.get_attribute('class')
    assert t.page_problems() == []


def test_navigation_links_lead_to_working_pages(web, tab):
    t = tab(web.client.url)
    page = t.goto('/web/inventory/')
    page.wait_for_selector('#charts .chart svg')
    for label, selector in (('Datasets', '#datasets-table table'), ('Replicas', '#replicas-table table'),
                            ('Applications', '#apps-table'), ('Sites', '#charts .chart svg')):
        page.click(f'header nav a:text-is("{label}")')
        page.wait_for_load_state('networkidle')
        page.wait_for_selector(selector)
        assert page.title() == f'{label if label != "Sites" else "Site usage"} · Dynamo'
    assert t.page_problems() == []


def test_pages_load_without_any_console_error(web, tab):
    t = tab(web.client.url)
    for path, ready in (('/web/inventory/sites', '#charts .chart svg'),
                        ('/web/inventory/datasets', '#datasets-table table'),
                        ('/web/inventory/replicas', '#replicas-table table'),
                        ('/web/applications/', '#apps-table table')):
        t.goto(path).wait_for_selector(ready)
    # every message counts, including the browser's request for /favicon.ico
    assert t.problems == []
