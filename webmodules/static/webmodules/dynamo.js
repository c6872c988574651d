/* Shared helpers of the Dynamo pages: /data access, sortable paged tables (of rows the page has),
   bar charts and line charts (SVG). */
'use strict';
const Dynamo = (() => {
  async function data(path, params) {
    const query = params ? '?' + new URLSearchParams(params).toString() : '';
    const response = await fetch('/data/' + path + query, { headers: { Accept: 'application/json' } });
    const body = await response.json();
    if (body.result !== 'OK') throw new Error(body.message || body.result);
    return body.data;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v; else if (k.startsWith('on')) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c == null ? '' : String(c)));
    return node;
  }

  function bytes(n) {
    if (n == null) return '';
    const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
    let i = 0; let v = n;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (i ? v.toFixed(2) : v) + ' ' + units[i];
  }

  /* columns: [{key, label, num, format}] ; rows: objects. Sorting by header click, paging; options:
     pageSize, onSelect(row), empty (the text shown instead of a table without rows). */
  function table(container, columns, rows, options) {
    const opts = Object.assign({ pageSize: 25, onSelect: null, empty: null }, options || {});
    let sortKey = null; let sortDir = 1; let page = 0;
    const root = typeof container === 'string' ? document.getElementById(container) : container;
    function render() {
      const sorted = rows.slice();
      if (sortKey !== null) {
        sorted.sort((a, b) => {
          const x = a[sortKey]; const y = b[sortKey];
          if (x === y) return 0;
          if (x == null) return 1; if (y == null) return -1;
          return (x < y ? -1 : 1) * sortDir;
        });
      }
      const pages = Math.max(1, Math.ceil(sorted.length / opts.pageSize));
      page = Math.min(page, pages - 1);
      const head = el('tr', {}, ...columns.map(c => {
        const th = el('th', { 'data-key': c.key, onclick: () => { if (sortKey === c.key) sortDir = -sortDir; else { sortKey = c.key; sortDir = 1; } render(); } }, c.label);
        if (sortKey === c.key) th.className = sortDir > 0 ? 'sorted-asc' : 'sorted-desc';
        return th;
      }));
      const body = sorted.slice(page * opts.pageSize, (page + 1) * opts.pageSize).map(r => {
        const tr = el('tr', {}, ...columns.map(c => el('td', { class: c.num ? 'num' : '' }, c.format ? c.format(r[c.key], r) : r[c.key])));
        if (opts.onSelect) tr.addEventListener('click', () => { root.querySelectorAll('tr.selected').forEach(x => x.classList.remove('selected')); tr.classList.add('selected'); opts.onSelect(r); });
        return tr;
      });
      if (!sorted.length && opts.empty) {
        root.replaceChildren(el('p', { class: 'empty' }, opts.empty));
        return;
      }
      const prev = el('button', { type: 'button', class: 'secondary prev', onclick: () => { if (page > 0) { page--; render(); } } }, '‹ Previous');
      const next = el('button', { type: 'button', class: 'secondary next', onclick: () => { if (page < pages - 1) { page++; render(); } } }, 'Next ›');
      prev.disabled = page === 0; next.disabled = page >= pages - 1;
      const pager = el('div', { class: 'pager' }, prev,
        el('span', { class: 'page-info' }, `page ${page + 1} of ${pages} · ${sorted.length} rows`), next);
      root.replaceChildren(el('div', { class: 'table-wrap' }, el('table', { class: 'data' }, el('thead', {}, head), el('tbody', {}, ...body))), pager);
    }
    render();
    return { update(newRows) { rows = newRows; render(); } };
  }

  /* Horizontal bars: items [{label, usage, projected, quota}] in bytes. */
  function barChart(container, title, items) {
    const ns = 'http://www.w3.org/2000/svg';
    const width = 400; const rowH = 26; const labelW = 110; const height = items.length * rowH + 10;
    const max = Math.max(1, ...items.map(i => Math.max(i.usage, i.projected, i.quota > 0 ? i.quota : 0)));
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('width', width); svg.setAttribute('height', height); svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', title);
    const scale = v => (width - labelW - 10) * v / max;
    items.forEach((item, i) => {
      const y = 5 + i * rowH;
      const add = (tag, attrs, text) => { const n = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); if (text) n.textContent = text; svg.append(n); return n; };
      add('text', { x: 0, y: y + 15 }, item.label);
      add('rect', { class: 'bar-projected', x: labelW, y: y + 2, width: scale(item.projected), height: 18 });
      add('rect', { class: 'bar-usage', x: labelW, y: y + 6, width: scale(item.usage), height: 10 });
      if (item.quota > 0) add('rect', { class: 'bar-quota', x: labelW, y: y + 1, width: scale(item.quota), height: 20 });
      const t = add('title', {}, `${item.label}: usage ${bytes(item.usage)}, projected ${bytes(item.projected)}, quota ${item.quota > 0 ? bytes(item.quota) : 'none'}`);
      void t;
    });
    const box = el('div', { class: 'chart' }, el('h2', {}, title));
    box.append(svg);
    box.append(el('div', { class: 'legend' }, el('span', {}, '■ usage'), el('span', {}, '■ projected'), el('span', {}, '□ quota')));
    container.append(box);
  }

  /* Ticks of a scale: steps of 1, 2, 2.5 or 5 times a power of ten. */
  function niceTicks(max, count) {
    if (!(max > 0)) return { top: 1, ticks: [0, 1] };
    const raw = max / (count || 4); const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map(m => m * power).find(s => s >= raw);
    const top = step * Math.ceil(max / step); const ticks = [];
    for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
    return { top, ticks };
  }

  const PALETTE = ['#1f6feb', '#d1242f', '#1a7f37', '#8250df', '#bf8700', '#0a7ea4', '#cf222e', '#6e7781',
                   '#e16f24', '#116329', '#a475f9', '#953800'];

  /* A line chart of series [{label, cls, color, dashed, points: [[unix time, value], ...]}] drawn
     into `container` at its width (again when the window is resized); values are bytes. */
  function lineChart(container, series, options) {
    const opts = Object.assign({ height: 300, yFormat: bytes }, options || {});
    const ns = 'http://www.w3.org/2000/svg';
    const legend = el('div', { class: 'legend' });
    const box = el('div', { class: 'chart-box' });
    container.replaceChildren(box, legend);
    series.forEach((s, i) => {
      s.color = s.color || PALETTE[i % PALETTE.length];
      const swatch = el('i', { class: 'swatch ' + (s.cls || '') });
      if (!s.cls) swatch.style.background = s.color;
      legend.append(el('span', { class: 'series-label', 'data-series': s.label }, swatch, s.label));
    });
    function draw() {
      const width = Math.max(280, box.clientWidth || container.clientWidth || 600);
      const height = opts.height; const left = 64; const right = 12; const top = 10; const bottom = 28;
      const all = series.flatMap(s => s.points);
      const t0 = Math.min(...all.map(p => p[0])); const t1 = Math.max(...all.map(p => p[0]));
      const span = t1 - t0 || 3600;
      const { top: ymax, ticks } = niceTicks(Math.max(1, ...all.map(p => p[1])), 4);
      const x = t => left + (width - left - right) * (t - (t1 === t0 ? t0 - span / 2 : t0)) / span;
      const y = v => top + (height - top - bottom) * (1 - v / ymax);
      const svg = document.createElementNS(ns, 'svg');
      svg.setAttribute('viewBox', `0 0 ${width} ${height}`); svg.setAttribute('width', width); svg.setAttribute('height', height);
      svg.setAttribute('role', 'img'); svg.setAttribute('aria-label', opts.label || 'usage over time');
      const add = (parent, tag, attrs, text) => { const n = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); if (text != null) n.textContent = text; parent.append(n); return n; };
      const grid = add(svg, 'g', { class: 'grid' });
      for (const v of ticks) {
        add(grid, 'line', { x1: left, x2: width - right, y1: y(v), y2: y(v) });
        add(svg, 'text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'y-tick' }, opts.yFormat(v));
      }
      const nx = Math.max(2, Math.min(6, Math.floor((width - left) / 110)));
      for (let i = 0; i <= nx; i++) {
        const t = (t1 === t0 ? t0 - span / 2 : t0) + span * i / nx;
        const d = new Date(t * 1000);
        const iso = d.toISOString().replace('T', ' ');
        const label = span > 3 * 86400 ? iso.slice(0, 10) : span > 7200 ? iso.slice(5, 16) : iso.slice(11, 19);
        add(svg, 'text', { x: x(t), y: height - 8, 'text-anchor': i === 0 ? 'start' : i === nx ? 'end' : 'middle', class: 'x-tick' }, label);
      }
      for (const s of series) {
        if (!s.points.length) continue;
        const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
        const path = add(svg, 'path', { d, class: 'series ' + (s.cls || ''), 'data-series': s.label, 'data-points': s.points.length });
        if (!s.cls) path.setAttribute('stroke', s.color);
        if (s.dashed) path.setAttribute('stroke-dasharray', '6 3');
        const last = s.points[s.points.length - 1];
        const dot = add(svg, 'circle', { cx: x(last[0]), cy: y(last[1]), r: 3, fill: s.color });
        add(dot, 'title', {}, `${s.label}: ${opts.yFormat(last[1])} at ${new Date(last[0] * 1000).toISOString().replace('T', ' ').slice(0, 16)}`);
      }
      box.replaceChildren(svg);
    }
    draw();
    let timer = null;
    window.addEventListener('resize', () => { clearTimeout(timer); timer = setTimeout(draw, 100); });
  }

  return { data, el, bytes, table, barChart, lineChart, niceTicks };
})();
