/* Shared helpers of the Dynamo pages: /data access, sortable paged tables, bar charts (SVG). */
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

  /* columns: [{key, label, num, format}] ; rows: objects. Sorting by header click, paging. */
  function table(container, columns, rows, options) {
    const opts = Object.assign({ pageSize: 25, onSelect: null }, options || {});
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
      const pager = el('div', { class: 'pager' },
        el('button', { type: 'button', class: 'prev', onclick: () => { if (page > 0) { page--; render(); } } }, '‹ Previous'),
        el('span', { class: 'page-info' }, `page ${page + 1} of ${pages} · ${sorted.length} rows`),
        el('button', { type: 'button', class: 'next', onclick: () => { if (page < pages - 1) { page++; render(); } } }, 'Next ›'));
      root.replaceChildren(el('table', { class: 'data' }, el('thead', {}, head), el('tbody', {}, ...body)), pager);
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

  return { data, el, bytes, table, barChart };
})();
