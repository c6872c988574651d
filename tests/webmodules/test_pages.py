"""The pages of issue #15 in a real headless Chromium against a real server with the demo inventory,
its partitions and quotas and an empty site: the usage chart (one scale, numbers, quota marks, the
legend's colours, sorting by occupancy), a site's page with its history, a dataset's page with its
files on demand, totals and empty states, server-side paging, the layout at 400 px, error pages."""
import json
import time

import pytest

from tests.conftest import make_reader, manage
from tests.webmodules.helpers import CERN, ERRORS, MIT, MUON, TTBAR
from tests.webmodules.test_browser import browser, tab, wait_for_query  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e
EMPTY = 'T3_XX_Empty'
GB = 10 ** 9


@pytest.fixture
def web(make_web, tmp_path):
    doc = tmp_path / 'empty_site.json'
    doc.write_text(json.dumps({'site': [{'name': EMPTY, 'host': 'se.empty.example', 'storage_type': 'disk',
                                         'status': 'ready'}]}))
    modules = {'errors.py': ERRORS}
    make_reader()
    # (no embedded schedule: its cycles would be applications on a page that shows there is none)
    server = make_web(modules=modules, env={'DYNAMO_WEB_DN_HEADER': 'X-DN', 'DYNAMO_SCHEDULE_EMBEDDED': 'no'})
    for args in (('dynamo_inject', str(doc)),
                 ('dynamo_partitions', '--load', 'inventory/fixtures/partitions.txt'),
                 ('set_quota', '--site', MIT, '--partition', 'Default', '--volume', '10GB'),
                 ('set_quota', '--site', CERN, '--partition', 'Default', '--volume', '40GB'),
                 ('set_quota', '--site', EMPTY, '--partition', 'Default', '--volume', '5GB')):
        r = manage(*args, env=server.env)
        assert r.returncode == 0, r.stdout + r.stderr
    return server


def usage_of(web, site, partition='Default'):
    return next(p for s in web.client.data(f'inventory/sites?site={site}') for p in s['partitions']
                if p['name'] == partition)


def record_usage(web):
    r = manage('dynamo_usage', '--record', env=web.env)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_the_usage_chart_compares_every_site_on_one_scale(web, tab):
    t = tab(web.client.url)
    page = t.goto('/web/inventory/sites')
    rows = page.locator('#usage-chart .usage-row')
    # every site, the empty one too: a row with its numbers, not an empty chart
    assert rows.evaluate_all('rs => rs.map(r => r.dataset.site)') == [CERN, MIT, EMPTY]
    empty = rows.nth(2)
    assert empty.locator('.value').inner_text() == '0\u00a0B · quota 5.00\u00a0GB · 0\u00a0%'
    assert empty.locator('.bar.usage').bounding_box()['width'] == 0
    mit = rows.nth(1)
    mit_usage = usage_of(web, MIT)
    assert mit.locator('.value').inner_text() == (
        f'9.00\u00a0GB → 10.50\u00a0GB · quota 10.00\u00a0GB · 90\u00a0%')
    assert mit_usage['usage'] == 9 * GB and mit_usage['projected_usage'] == 10.5 * GB

    # one scale: a quota mark sits where its bytes are on every row (40 GB is 4 times 10 GB)
    def mark_x(row):
        track = row.locator('.track').bounding_box()
        mark = row.locator('.quota-mark').bounding_box()
        return mark['x'] + mark['width'] / 2 - track['x'], track['width']
    cern_x, width = mark_x(rows.nth(0))
    mit_x, _ = mark_x(mit)
    empty_x, _ = mark_x(empty)
    assert abs(cern_x / mit_x - 4) < 0.05 and abs(mit_x / empty_x - 2) < 0.05, (cern_x, mit_x, empty_x)
    # the axis reads the same scale: its last tick is the top of the scale (40 GB here)
    assert page.locator('#usage-chart .tick').last.inner_text() == '40.00\u00a0GB'
    assert abs(cern_x - width) < 3

    # the legend's colours are the bars' and the quota mark's
    def colour(selector):
        return page.locator(selector).first.evaluate('e => getComputedStyle(e).backgroundColor')
    for kind in ('usage', 'projected', 'quota'):
        bar = '.track .quota-mark' if kind == 'quota' else f'.track .bar.{kind}'
        assert colour(f'#usage-legend .swatch.{kind}') == colour(bar), kind
    assert len({colour('.track .bar.usage'), colour('.track .bar.projected'), colour('.track .quota-mark')}) == 3

    # sorted by occupancy, fullest first: MIT 90 %, CERN 29 %, the empty site 0 %
    page.select_option('#sort-select', 'occupancy')
    wait_for_query(page, 'sort=occupancy')
    assert rows.evaluate_all('rs => rs.map(r => r.dataset.site)') == [MIT, CERN, EMPTY]
    occupancies = rows.evaluate_all('rs => rs.map(r => Number(r.dataset.occupancy))')
    assert occupancies == sorted(occupancies, reverse=True)
    page.select_option('#order-select', 'asc')
    wait_for_query(page, 'order=asc')
    assert rows.evaluate_all('rs => rs.map(r => r.dataset.site)') == [EMPTY, CERN, MIT]

    # another partition: quotas none
    page.select_option('#partition-select', 'DataOps')
    wait_for_query(page, 'partition=DataOps')
    assert 'quota none' in rows.first.locator('.value').inner_text()
    assert page.locator('#usage-chart .quota-mark').count() == 0
    assert t.page_problems() == []


def test_a_site_page_shows_partitions_history_and_datasets(web, tab):
    # given two usage samples, the second after a quota change
    record_usage(web)
    r = manage('set_quota', '--site', MIT, '--partition', 'Default', '--volume', '12GB', env=web.env)
    assert r.returncode == 0, r.stderr
    record_usage(web)
    t = tab(web.client.url)
    page = t.goto('/web/inventory/sites')
    page.click(f'#usage-chart .usage-row[data-site="{MIT}"] a.usage-label')
    page.wait_for_selector('#partitions-table')
    assert page.title() == f'{MIT} · Dynamo' and page.locator('h1').inner_text() == MIT
    # the partitions with their numbers
    parts = {r.get_attribute('data-partition'): r.locator('td').all_inner_texts()
             for r in page.locator('#partitions-table tbody tr').all()}
    assert set(parts) == {'Default', 'AnalysisOps', 'DataOps', 'Physics'}
    assert parts['Default'][1:4] == ['12.00\u00a0GB', '9.00\u00a0GB', '10.50\u00a0GB']
    assert parts['Default'][4].endswith('75\u00a0%')
    assert parts['DataOps'][1] == 'none'
    # the history: a line of usage, of projected usage and of the quota, over the two samples
    chart = page.locator('#history-chart svg')
    chart.wait_for()
    assert chart.locator('path.series').count() == 3
    assert chart.locator('path.usage-line').get_attribute('data-points') == '2'
    assert page.locator('#history-chart .legend').inner_text().split() == ['usage', 'projected', 'quota']
    history = web.client.data(f'inventory/history?site={MIT}&partition=Default')
    assert [p[1] for p in history[0]['points']] == [10 * GB, 12 * GB]
    # its datasets, each a link to the dataset's page
    names = page.locator('#site-datasets tbody td:first-child a').all_inner_texts()
    assert names == sorted([MUON, TTBAR])
    page.click(f'#site-datasets a:text-is("{MUON}")')
    page.wait_for_selector('#dataset-replicas')
    assert page.locator('h1').inner_text() == MUON
    assert t.page_problems() == []


def test_a_dataset_page_lists_replicas_and_blocks_and_shows_files_on_demand(web, tab):
    t = tab(web.client.url)
    page = t.goto('/web/inventory/datasets?dataset=/SingleMuon/*')
    page.click(f'#datasets-table a:text-is("{MUON}")')
    page.wait_for_selector('#dataset-blocks')
    sites = page.locator('#dataset-replicas tbody td:first-child').all_inner_texts()
    assert sites == [CERN, MIT]
    blocks = web.client.data(f'inventory/blockreplicas?dataset={MUON}')
    assert page.locator('#dataset-blocks tbody tr').count() == len(blocks)
    # no file was sent with the page
    assert page.locator('tr.sub').count() == 0
    first = f"{MUON}#{blocks[0]['block']}"
    files = web.client.data('inventory/files', params={'block': first})
    assert files and len(files) == blocks[0]['num_files']
    button = page.locator(f'button.show-files[data-block="{first}"]')
    button.click()
    page.wait_for_selector('tr.sub table.files tbody tr')
    shown = page.locator('tr.sub table.files tbody td:first-child').all_inner_texts()
    assert shown == [f['name'] for f in files]
    assert button.get_attribute('aria-expanded') == 'true'
    button.click()
    assert page.locator('tr.sub').count() == 0
    assert t.page_problems() == []


def test_the_dataset_search_has_totals_links_and_an_empty_state(web, tab):
    t = tab(web.client.url)
    page = t.goto('/web/inventory/datasets')
    data = web.client.data('inventory/datasets')
    totals = page.locator('#dataset-totals').inner_text()
    size = sum(d['size'] for d in data)
    assert f'{len(data)} datasets' in totals and f'{size / GB:.2f}\u00a0GB' in totals
    assert f"{sum(d['num_files'] for d in data)} files" in totals
    # a size never wraps ("103.77 / GB"): the size cell is one line high
    cell = page.locator('#datasets-table tbody tr').first.locator('td.num').last
    line = cell.evaluate('e => parseFloat(getComputedStyle(e).lineHeight)')
    assert cell.evaluate('e => e.getBoundingClientRect().height') < 2 * line + 16
    # one page: Previous and Next are shown disabled, not as links
    assert page.locator('.pager a').count() == 0
    assert page.locator('.pager .prev').get_attribute('aria-disabled') == 'true'
    assert page.locator('.pager .next').get_attribute('aria-disabled') == 'true'
    # nothing matches: a message, not bare headers
    page.fill('#dataset-pattern', '/Nothing/*')
    page.click('#dataset-form button[type="submit"]')
    wait_for_query(page, 'Nothing')
    assert page.locator('#datasets-table').count() == 0
    assert 'No dataset matches /Nothing/*' in page.locator('#datasets-empty').inner_text()
    assert t.page_problems() == []


def test_the_replica_page_never_receives_the_whole_table(web, tab):
    t = tab(web.client.url)
    requests = []
    t.page.on('request', lambda r: requests.append(r.url))
    page = t.goto('/web/inventory/replicas?per_page=25')
    total = sum(len(b['replicas']) for b in web.client.data('inventory/blockreplicas?dataset=/*'))
    assert page.locator('#replicas-table tbody tr').count() == min(25, total)
    # the page came as HTML with its rows: no JSON of replicas was fetched
    assert not [u for u in requests if '/data/' in u]
    # incomplete only
    page.select_option('#replica-complete', 'n')
    page.click('#replica-form button[type="submit"]')
    wait_for_query(page, 'complete=n')
    incomplete = sum(1 for b in web.client.data('inventory/blockreplicas?dataset=/*&complete=n') for _ in b['replicas'])
    assert page.locator('#replicas-table tbody tr').count() == incomplete
    assert t.page_problems() == []


PAGES_400 = ('/web/inventory/sites', f'/web/inventory/site?name={MIT}', '/web/inventory/datasets',
             f'/web/inventory/dataset?name={MUON}', '/web/inventory/replicas', '/web/inventory/history',
             '/web/applications/', '/web/', '/api/', '/web/nosuchmodule/page')


def test_every_page_fits_a_400_pixel_screen(web, tab, browser):
    context = browser.new_context(viewport={'width': 400, 'height': 800})
    page = context.new_page()
    try:
        for path in PAGES_400:
            page.goto(web.client.url + path, wait_until='networkidle')
            # no horizontal scrolling of the page (a wide table scrolls in its own box)
            assert page.evaluate('document.documentElement.scrollWidth') <= 400, path
            # every navigation link is on the screen
            for box in page.locator('header nav a').evaluate_all(
                    'as => as.map(a => a.getBoundingClientRect()).map(r => [r.left, r.right])'):
                assert 0 <= box[0] and box[1] <= 400, (path, box)
        # and wide: the chart uses the width
        page.set_viewport_size({'width': 1600, 'height': 900})
        page.goto(web.client.url + '/web/inventory/sites', wait_until='networkidle')
        assert page.locator('#usage-chart .track').first.bounding_box()['width'] > 900
    finally:
        context.close()


def test_errors_and_the_index_are_pages_in_the_layout(web, tab):
    t = tab(web.client.url)
    # /web/ lists the pages of every module
    page = t.goto('/web/')
    assert page.title() == 'Pages · Dynamo'
    links = page.locator('.module-pages[data-module="inventory"] a').evaluate_all('as => as.map(a => a.pathname)')
    assert {'/web/inventory/sites', '/web/inventory/datasets', '/web/inventory/history'} <= set(links)
    for status, path, text in ((404, '/nope/at/all', 'no page at /nope/at/all'),
                               (404, '/web/nosuchmodule/page', 'no web module named'),
                               (404, '/web/inventory/site?name=T9_Nowhere', 'no site T9_Nowhere'),
                               (400, '/web/inventory/datasets?sort=colour', 'parameter "sort"'),
                               (500, '/web/errors/crash', 'internal error')):
        response = page.goto(web.client.url + path)
        assert response.status == status, path
        # the site's header and stylesheet, the status and what went wrong
        assert page.locator('header.site-header nav a').count() >= 5, path
        assert page.locator('.error-page .error-code').inner_text() == str(status)
        assert text in page.locator('.error-page .error-message').inner_text(), path
        assert page.locator('.error-page').evaluate('e => getComputedStyle(e).backgroundColor') == 'rgb(255, 255, 255)'
        assert 'SECRET' not in page.content()
    # a JSON client gets JSON for an unknown address
    reply = web.client.get('/nope/at/all')
    assert reply.status == 404 and reply.json == {'result': 'Not Found', 'message': 'no page at /nope/at/all'}


def test_the_applications_page_without_applications_says_so(web, tab):
    t = tab(web.client.url)
    page = t.goto('/web/applications/')
    page.wait_for_selector('#apps-table .empty')
    assert 'No application has been submitted yet' in page.locator('#apps-table').inner_text()
    assert page.locator('#app-output').inner_text() == 'No output: there is no application.'
    assert t.page_problems() == []


def test_the_history_page_plots_every_site(web, tab):
    t = tab(web.client.url)
    page = t.goto('/web/inventory/history')
    assert 'No usage sample' in page.locator('#history-empty').inner_text()
    record_usage(web)
    time.sleep(1.1)   # samples are per second
    record_usage(web)
    page = t.goto('/web/inventory/history')
    chart = page.locator('#history-chart svg')
    chart.wait_for()
    assert sorted(chart.locator('path.series').evaluate_all('ps => ps.map(p => p.dataset.series)')) == \
        sorted([CERN, MIT, EMPTY])
    sites = page.locator('#history-table tbody tr').evaluate_all('rs => rs.map(r => r.dataset.site)')
    assert sites == [CERN, MIT, EMPTY]   # largest usage first
    assert page.locator('#history-table tbody tr').first.locator('td').nth(4).inner_text() == '2'
    assert t.page_problems() == []
