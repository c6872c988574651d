/* /web/detox: a cycle's per-site bars (protected, kept, deleted against the quota), its policy with
   the decisions of each line, and its decisions table with filters. */
'use strict';
(() => {
  const el = Dynamo.el;
  const bars = document.getElementById('site-bars');
  const select = document.getElementById('cycle-select');
  const summary = document.getElementById('cycle-summary');
  const warnings = document.getElementById('cycle-warnings');
  const linesBody = document.querySelector('#policy-lines tbody');
  const tableBox = document.getElementById('decisions-table');
  const count = document.getElementById('decision-count');
  const DECISION_LIMIT = 20000;
  let current = null;
  let table = null;
  const columns = [
    { key: 'site', label: 'Site' }, { key: 'dataset', label: 'Dataset' }, { key: 'decision', label: 'Decision' },
    { key: 'blocks', label: 'Blocks', format: v => (v == null ? 'all' : v.join(', ')) },
    { key: 'size', label: 'Size', num: true, format: Dynamo.bytes },
    { key: 'line', label: 'Line', num: true }, { key: 'text', label: 'Policy line' },
  ];

  function drawBars(sites) {
    const ns = 'http://www.w3.org/2000/svg';
    const width = 760; const labelW = 170; const rowH = 28; const rightW = 150;
    const height = sites.length * rowH + 10;
    const max = Math.max(1, ...sites.map(s => Math.max(s.protected + s.kept + s.deleted, s.quota > 0 ? s.quota : 0)));
    const scale = v => (width - labelW - rightW) * v / max;
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('width', width); svg.setAttribute('height', height); svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', 'protected, kept and deleted bytes per site against the quota');
    const add = (parent, tag, attrs, text) => {
      const n = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
      if (text) n.textContent = text;
      parent.append(n); return n;
    };
    sites.forEach((s, i) => {
      const y = 5 + i * rowH;
      const g = add(svg, 'g', { class: 'site-bar', 'data-site': s.site });
      add(g, 'text', { x: 0, y: y + 16 }, s.site + (s.triggered ? ' ▲' : ''));
      let x = labelW;
      for (const part of ['protected', 'kept', 'deleted']) {
        const w = scale(s[part]);
        const r = add(g, 'rect', { class: 'bar-' + part, x: x, y: y + 4, width: w, height: 16, 'data-bytes': s[part] });
        add(r, 'title', {}, `${s.site}: ${part} ${Dynamo.bytes(s[part])}`);
        x += w;
      }
      if (s.quota > 0) add(g, 'line', { class: 'bar-quota', x1: labelW + scale(s.quota), x2: labelW + scale(s.quota), y1: y, y2: y + 24 });
      const occ = v => (v == null ? 'no quota' : (100 * v).toFixed(1) + ' %');
      add(g, 'text', { x: width - rightW + 8, y: y + 16 }, `${occ(s.occupancy_before)} → ${occ(s.occupancy_after)}`);
    });
    bars.replaceChildren(svg);
  }

  function drawLines(lines) {
    linesBody.replaceChildren(...lines.filter(l => l.text.trim() && !l.text.trim().startsWith('#')).map(l => {
      const word = l.text.trim().split(/\s+/)[0].toLowerCase();
      const decides = ['protect', 'delete', 'dismiss', 'ignore', 'protectblock', 'deleteblock', 'dismissblock'].includes(word);
      const cls = !decides ? 'header' : (l.decisions ? 'hit' : 'never');
      return el('tr', { class: cls, 'data-line': l.line }, el('td', { class: 'num' }, l.line), el('td', {}, l.text),
        el('td', { class: 'num' }, decides ? l.decisions : ''), el('td', { class: 'num' }, decides ? Dynamo.bytes(l.bytes) : ''));
    }));
  }

  async function loadDecisions(event) {
    if (event) event.preventDefault();
    if (!current) return;
    const params = { cycle: current.id, limit: DECISION_LIMIT };
    const site = document.getElementById('decision-site').value.trim();
    const dataset = document.getElementById('decision-dataset').value.trim();
    const kind = document.getElementById('decision-kind').value;
    if (site) params.site = site;
    if (dataset) params.dataset = dataset;
    if (kind) params.decision = kind;
    try {
      const rows = await Dynamo.data('detox/decisions', params);
      count.textContent = rows.length >= DECISION_LIMIT ? `the first ${rows.length} decisions (filter to see others)` : `${rows.length} decisions`;
      if (table) table.update(rows); else table = Dynamo.table(tableBox, columns, rows);
    } catch (e) { tableBox.replaceChildren(el('p', { class: 'error' }, e.message)); }
  }

  async function loadCycle(id) {
    summary.textContent = 'Loading…';
    current = await Dynamo.data('detox/cycle', { id: id });
    const kind = current.test ? 'test cycle' : 'cycle';
    summary.textContent = `${kind} ${current.id} of partition ${current.partition} (${current.state}), ` +
      `${current.started.replace('T', ' ').slice(0, 19)}: ${current.num_triggered} of ${current.num_sites} sites triggered, ` +
      `${Dynamo.bytes(current.deleted_bytes)} deleted` + (current.comment ? ` · ${current.comment}` : '') +
      (current.stop_reason ? ` · stopped: ${current.stop_reason}` : '');
    warnings.replaceChildren(...(current.warnings.length ? [el('div', { class: 'warnings' }, ...current.warnings.map(w => el('div', {}, w)))] : []));
    drawBars(current.sites);
    drawLines(current.lines);
    await loadDecisions();
  }

  async function start() {
    try {
      const cycles = await Dynamo.data('detox/cycles', { limit: 50 });
      if (!cycles.length) { summary.textContent = 'No Detox cycle has run yet.'; bars.replaceChildren(); return; }
      select.replaceChildren(...cycles.map(c => el('option', { value: c.id }, `${c.id}${c.test ? ' (test)' : ''} ${c.partition} ${c.started.slice(0, 16).replace('T', ' ')}`)));
      const wanted = bars.dataset.cycle;
      const id = wanted && wanted !== 'latest' ? wanted : String(cycles[0].id);
      if (![...select.options].some(o => o.value === id)) select.append(el('option', { value: id }, id));
      select.value = id;
      await loadCycle(id);
    } catch (e) { summary.replaceChildren(el('span', { class: 'error' }, e.message)); }
  }
  select.addEventListener('change', () => loadCycle(select.value).catch(e => summary.replaceChildren(el('span', { class: 'error' }, e.message))));
  document.getElementById('decision-form').addEventListener('submit', loadDecisions);
  start();
})();
