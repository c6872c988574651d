"""The pages in a real headless Chromium (playwright) against a real server with the demo inventory:
the site usage chart, dataset and replica tables (sorted and paged on the server) and the
applications page. tests/webmodules/test_pages.py has the rest of the pages of issue #15."""
import json
import os
import re
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


def wait_for_query(page, text):
    """Wait until the page's address holds `text` (a link or a form of a server-rendered page)."""
    page.wait_for_url(re.compile(re.escape(text)))


def column(page, container, index):
    return page.locator(f'#{container} table.data tbody tr td:nth-child({index})').all_inner_texts()


def test_site_usage_page_draws_every_site_on_one_scale(web, tab):
    t = tab(web.client.url)
    page = t.goto('/web/inventory/sites')
    sites = web.client.data('inventory/sites?partition=Default')
    rows = page.locator('#usage-chart .usage-row')
    assert rows.count() == len(sites) == 2
    assert rows.evaluate_all('rs => rs.map(r => r.dataset.site)') == [s['name'] for s in sites] == [CERN, MIT]
    usage = {s['name']: s['partitions'][0]['usage'] for s in sites}
    widths = {}
    for i, site in enumerate((CERN, MIT)):
        row = rows.nth(i)
        # the numbers are on the bar
        assert row.locator('.value').inner_text().startswith(_human(usage[site]))
        widths[site] = row.locator('.bar.usage').bounding_box()['width']
        assert widths[site] > 0
    # one shared scale: the bars' widths are in the ratio of the usages
    assert abs(widths[CERN] / widths[MIT] - usage[CERN] / usage[MIT]) < 0.02, (widths, usage)

    # filtering redraws: only MIT
    page.fill('#site-filter', 'T2_*')
    page.click('#site-apply')
    page.wait_for_function("document.querySelectorAll('#usage-chart .usage-row').length === 1")
    assert rows.first.get_attribute('data-site') == MIT
    assert t.page_problems() == []


def _human(n):
    for unit, factor in (('PB', 1e15), ('TB', 1e12), ('GB', 1e9), ('MB', 1e6), ('kB', 1e3)):
        if n >= factor:
            return f'{n / factor:.2f}\u00a0{unit}'
    return f'{n}\u00a0B'


def test_dataset_table_lists_the_datasets_and_sorts_on_header_click(web, tab):
    t = tab(web.client.url)
    page = t.goto('/web/inventory/datasets')
    data = web.client.data('inventory/datasets')
    names = column(page, 'datasets-table', 1)
    assert sorted(names) == sorted(DEMO_DATASETS + [BIG])
    assert names == [d['name'] for d in data]
    row = page.locator('#datasets-table tbody tr', has_text=MUON)
    cells = row.locator('td').all_inner_texts()
    muon = next(d for d in data if d['name'] == MUON)
    assert cells[1] == 'valid' and cells[3] == str(muon['num_blocks']) and cells[4] == str(muon['num_files'])
    assert cells[6] == f'{CERN}, {MIT}'

    by_size = [d['name'] for d in sorted(data, key=lambda d: (d['size'], d['name']))]
    assert by_size != names   # the test would not see a sort otherwise
    page.click('#datasets-table th[data-key="size"] a')
    wait_for_query(page, 'sort=size')
    # (sizes sort largest first on the first click)
    assert column(page, 'datasets-table', 1) == by_size[::-1]
    assert page.locator('#datasets-table th[data-key="size"]').get_attribute('class') == 'num sorted-desc'
    page.click('#datasets-table th[data-key="size"] a')
    wait_for_query(page, 'order=asc')
    assert column(page, 'datasets-table', 1) == by_size
    assert page.locator('#datasets-table th[data-key="size"]').get_attribute('class') == 'num sorted-asc'
    page.click('#datasets-table th[data-key="name"] a')
    wait_for_query(page, 'sort=name')
    assert column(page, 'datasets-table', 1) == sorted(names)

    # searching with a pattern
    page.fill('#dataset-pattern', '/SingleMuon/*')
    page.click('#dataset-form button[type="submit"]')
    wait_for_query(page, 'dataset=%2FSingleMuon')
    assert column(page, 'datasets-table', 1) == [MUON]
    assert t.page_problems() == []


def test_replica_table_pages_and_sorts_on_the_server(web, tab):
    t = tab(web.client.url)
    page = t.goto('/web/inventory/replicas')
    blocks = web.client.data('inventory/blockreplicas?dataset=/*')
    rows = [(f"{b['dataset']}#{b['block']}", r['site'], r['num_files']) for b in blocks for r in b['replicas']]
    total = len(rows)
    assert total == NUM_BIG_BLOCKS + 6
    page.select_option('#replica-form select[name="per_page"]', '25')
    page.click('#replica-form button[type="submit"]')
    wait_for_query(page, 'per_page=25')
    info = page.locator('#replicas-table + .pager .page-info')
    assert info.inner_text() == f'page 1 of 2 · rows 1–25 of {total}'
    first = list(zip(column(page, 'replicas-table', 1), column(page, 'replicas-table', 2)))
    assert len(first) == 25

    page.click('.pager a.next')
    wait_for_query(page, '&page=2')
    assert info.inner_text() == f'page 2 of 2 · rows 26–{total} of {total}'
    second = list(zip(column(page, 'replicas-table', 1), column(page, 'replicas-table', 2)))
    assert len(second) == total - 25
    # the two pages hold every block replica once
    assert sorted(first + second) == sorted((r[0], r[1]) for r in rows)
    assert page.locator('.pager .next[aria-disabled="true"]').count() == 1   # the last page
    page.click('.pager a.prev')
    wait_for_query(page, '&page=1')
    assert len(column(page, 'replicas-table', 1)) == 25

    # sorting by site puts the CERN replicas first; clicking again puts them last
    page.click('#replicas-table th[data-key="site"] a')
    wait_for_query(page, 'sort=site')
    sites = column(page, 'replicas-table', 2)
    num_cern = sum(1 for r in rows if r[1] == CERN)
    assert sites[:num_cern] == [CERN] * num_cern and set(sites[num_cern:]) == {MIT}
    page.click('#replicas-table th[data-key="site"] a')
    wait_for_query(page, 'order=desc')
    assert set(column(page, 'replicas-table', 2)) == {MIT}
    page.click('.pager a.next')
    wait_for_query(page, '&page=2')
    assert column(page, 'replicas-table', 2)[-num_cern:] == [CERN] * num_cern

    # filtering by site
    page.fill('#replica-site', CERN)
    page.click('#replica-form button[type="submit"]')
    wait_for_query(page, f'site={CERN}')
    assert info.inner_text() == f'page 1 of 1 · rows 1–{num_cern} of {num_cern}'
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
    page.wait_for_selector('#usage-chart .usage-row')
    for label, selector in (('Datasets', '#datasets-table table'), ('Replicas', '#replicas-table table'),
                            ('Applications', '#apps-table table, #apps-table .empty'), ('History', '#history-empty'),
                            ('Sites', '#usage-chart .usage-row')):
        page.click(f'header nav a:text-is("{label}")')
        page.wait_for_load_state('networkidle')
        page.wait_for_selector(selector)
        title = {'Sites': 'Site usage', 'History': 'Usage history'}.get(label, label)
        assert page.title() == f'{title} · Dynamo'
        assert page.locator('header nav a[aria-current="page"]').inner_text() == label
    assert t.page_problems() == []


def test_pages_load_without_any_console_error(web, tab):
    t = tab(web.client.url)
    for path, ready in (('/web/inventory/sites', '#usage-chart .usage-row'),
                        ('/web/inventory/datasets', '#datasets-table table'),
                        ('/web/inventory/replicas', '#replicas-table table'),
                        (f'/web/inventory/site?name={MIT}', '#partitions-table'),
                        (f'/web/inventory/dataset?name={MUON}', '#dataset-blocks'),
                        ('/web/inventory/history', '#history-empty'), ('/web/', '.module-pages'),
                        ('/api/', '.opblock-tag-section'),
                        ('/web/applications/', '#apps-table table, #apps-table .empty')):
        t.goto(path).wait_for_selector(ready)
    # every message counts, including the browser's request for /favicon.ico
    assert t.problems == []
