"""The Dealer as operators use it: `manage.py dealer --policy FILE [--test-run]` on a running server,
its history on /data/dealer, and the /web/dealer and /web/schedule pages in a real browser."""
import json
import os

import pytest

from tests.conftest import manage
from tests.dealer.conftest import MINIMAL_POLICY, MUON_AOD, MUON_MINI, build
from tests.support import apply, load_image
from transfers import resolve, selectors, services

pytestmark = pytest.mark.e2e
CHROMIUM = '/usr/bin/chromium'


@pytest.fixture
def web(start_server, tmp_path):
    apply(load_image(), builder=build)
    catalog = selectors.StoreCatalog()
    for items, sites, n in (([MUON_MINI], ['T2_US_A', 'T2_US_B'], 1), ([MUON_AOD], ['T2_US_A'], 1)):
        services.copy_request_create(user='alice', items=resolve.resolve_items(catalog, items), sites=sites,
                                     site_patterns=sites, group='AnalysisOps', num_copies=n)
    server = start_server(env={'DYNAMO_SCHEDULE_DEALER': 'off', 'DYNAMO_SCHEDULE_TRACK_REQUESTS': 'off'})
    policy = tmp_path / 'dealer.json'
    policy.write_text(json.dumps(MINIMAL_POLICY))
    server.policy = str(policy)
    return server


def dealer(web, *args):
    return manage('dealer', '--server', f'127.0.0.1:{web.port}', *args)


def test_the_command_runs_a_test_cycle_then_a_real_one_and_the_history_shows_both(web):
    r = dealer(web, '--policy', web.policy, '--test-run')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'would be placed' in r.stdout and 'nothing applied' in r.stdout
    r = dealer(web, '--policy', web.policy, '--comment', 'first real one')
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert any(line.startswith('cycle ') and '1 of 2 proposals placed, 2 block replicas made' in line for line in lines)
    # MUON_AOD (4 TB) is more than 3 % of T2_US_A's 100 TB pending at once
    assert any(line.split()[:2] == ['pending_limit', '1'] for line in lines), r.stdout
    assert any(MUON_MINI in line and 'requests' in line for line in lines)
    status, body = web.get('/data/dealer/cycles')
    assert status == 200 and [c['state'] for c in body['data']] == ['committed', 'test']
    assert body['data'][0]['comment'] == 'first real one' and body['data'][0]['rejections'] == {'pending_limit': 1}
    status, body = web.get('/data/dealer/decisions?cycle=latest')
    rows = {(d['dataset'], d['decision'], d['reason']): d for d in body['data']}
    placed = rows[(MUON_MINI, 'accepted', 'placed')]
    assert placed['site'] in ('T2_US_A', 'T2_US_B')
    assert (placed['plugin'], placed['group']) == ('requests', 'AnalysisOps')
    refused = rows[(MUON_AOD, 'rejected', 'pending_limit')]
    assert refused['site'] == 'T2_US_A' and refused['site_rejections'] == {'pending_limit': 1}
    status, body = web.get("/data/dealer/decisions?cycle=999999")
    assert status == 404
    status, body = web.get('/data/dealer/cycle?cycle=latest')
    assert status == 200 and body['data']['seed'] == 0 and body['data']['timings']['decide'] >= 0


def test_an_invalid_policy_exits_2_naming_the_key(web, tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({'partition': 'Default', 'max_pending_fraction': 'a lot',
                               'plugins': {'requests': {'priority': 1}}}))
    r = dealer(web, '--policy', str(bad))
    assert r.returncode == 2 and f'{bad}: max_pending_fraction: expected a number' in r.stderr


def test_the_dealer_and_schedule_pages_in_a_browser(web):
    assert manage('dealer', '--server', f'127.0.0.1:{web.port}', '--policy', web.policy).returncode == 0
    if not os.path.exists(CHROMIUM):
        pytest.fail(f'{CHROMIUM} is missing (install the chromium package)')
    from playwright.sync_api import sync_playwright
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=['--no-sandbox', '--disable-gpu'])
        page = browser.new_page()
        page.on('pageerror', lambda e: problems.append(str(e)))
        page.on('console', lambda m: m.type == 'error' and problems.append(m.text))
        assert page.goto(web.url + '/web/dealer/', wait_until='networkidle').status == 200
        summary = page.inner_text('#cycle-summary')
        assert 'of partition Default' in summary and '1 of 2 proposals placed' in summary
        placed_site = page.inner_text('#dealer-placements tbody tr td:nth-child(5)')
        row = page.inner_text(f'#dealer-sites tr[data-site="{placed_site}"]')
        assert '0.0% (0.000 TB)' in row and '2.0% (2.000 TB)' in row      # physical vs projected
        assert 'pending_limit' in page.inner_text('#dealer-rejections')
        assert page.goto(web.url + '/web/schedule/', wait_until='networkidle').status == 200
        text = page.inner_text('#schedule-entries')
        assert 'dealer' in text and 'switched off in the configuration' in text
        assert 'embedded scheduler' in page.inner_text('#schedule-mode')
        browser.close()
    assert problems == []
