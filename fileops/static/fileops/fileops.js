/* /web/fileops: the links now, their rates and queue depths over time (SVG lines), the tasks. */
'use strict';
(() => {
  const $ = id => document.getElementById(id);
  const ns = 'http://www.w3.org/2000/svg';

  /* series: [{label, points: [[time ms, value]]}]; one chart with a line per series. */
  function lineChart(container, title, series, format) {
    const width = 420; const height = 180; const left = 60; const bottom = 20;
    const all = series.flatMap(s => s.points);
    const box = Dynamo.el('div', { class: 'chart' }, Dynamo.el('h2', {}, title));
    if (!all.length) { box.append(Dynamo.el('p', {}, 'no samples')); container.append(box); return; }
    const t0 = Math.min(...all.map(p => p[0])); const t1 = Math.max(t0 + 1, ...all.map(p => p[0]));
    const vmax = Math.max(1e-9, ...all.map(p => p[1]));
    const x = t => left + (width - left - 10) * (t - t0) / (t1 - t0);
    const y = v => height - bottom - (height - bottom - 10) * v / vmax;
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('width', width); svg.setAttribute('height', height); svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', title);
    const add = (tag, attrs, text) => { const n = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); if (text) n.textContent = text; svg.append(n); return n; };
    add('line', { x1: left, y1: height - bottom, x2: width - 10, y2: height - bottom, stroke: '#999' });
    add('line', { x1: left, y1: 10, x2: left, y2: height - bottom, stroke: '#999' });
    add('text', { x: 2, y: 16 }, format(vmax));
    add('text', { x: 2, y: height - bottom }, '0');
    add('text', { x: left, y: height - 4 }, new Date(t0).toLocaleTimeString());
    add('text', { x: width - 80, y: height - 4 }, new Date(t1).toLocaleTimeString());
    const colors = ['#1f6feb', '#d1242f', '#2da44e', '#bf8700', '#8250df', '#0a3069', '#cf222e', '#57606a'];
    const legend = Dynamo.el('div', { class: 'legend' });
    series.forEach((s, i) => {
      const color = colors[i % colors.length];
      add('polyline', { fill: 'none', stroke: color, 'stroke-width': 2,
        points: s.points.map(p => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ') });
      legend.append(Dynamo.el('span', { style: `color:${color}` }, '— ' + s.label));
    });
    box.append(svg, legend);
    container.append(box);
  }

  function byLink(samples, value) {
    const links = new Map();
    for (const s of samples) {
      const key = `${s.kind} ${s.source || '·'} → ${s.site}`;
      if (!links.has(key)) links.set(key, []);
      links.get(key).push([Date.parse(s.time), value(s)]);
    }
    return [...links].map(([label, points]) => ({ label, points }));
  }

  async function loadLinks() {
    const site = $('fo-site').value.trim();
    const params = { hours: $('fo-hours').value || '24' };
    if (site) params.site = site;
    try {
      const [now, history] = await Promise.all([Dynamo.data('fileops/links'), Dynamo.data('fileops/history', params)]);
      Dynamo.table('fo-links', [
        { key: 'kind', label: 'Kind' }, { key: 'source', label: 'Source' }, { key: 'site', label: 'Site' },
        { key: 'queued', label: 'Queued', num: true }, { key: 'active', label: 'Active', num: true },
        { key: 'failed', label: 'Failed', num: true }, { key: 'held', label: 'Held', num: true },
        { key: 'bytes_waiting', label: 'Waiting', num: true, format: Dynamo.bytes }],
      now.filter(r => !site || r.site === site || r.source === site));
      const charts = $('fo-charts');
      charts.replaceChildren();
      lineChart(charts, 'Files per second', byLink(history, s => s.rate), v => v.toFixed(2));
      lineChart(charts, 'Bytes per second', byLink(history, s => s.throughput), Dynamo.bytes);
      lineChart(charts, 'Queue depth (queued + active)', byLink(history, s => s.queued + s.active), v => String(Math.round(v)));
      lineChart(charts, 'Failures per pass', byLink(history, s => s.failed), v => String(Math.round(v)));
    } catch (e) { $('fo-links').replaceChildren(Dynamo.el('p', { class: 'error' }, e.message)); }
  }

  async function loadTasks() {
    const params = { limit: '500' };
    for (const [id, key] of [['fo-site', 'site'], ['fo-state', 'state'], ['fo-dataset', 'dataset'], ['fo-request', 'request']]) {
      const v = $(id).value.trim(); if (v) params[key] = v;
    }
    try {
      const rows = await Dynamo.data('fileops/' + $('fo-kind').value, params);
      Dynamo.table('fo-tasks', [
        { key: 'id', label: 'Id', num: true }, { key: 'state', label: 'State' }, { key: 'site', label: 'Site' },
        { key: 'source', label: 'Source' }, { key: 'lfn', label: 'LFN' },
        { key: 'size', label: 'Size', num: true, format: Dynamo.bytes }, { key: 'attempts', label: 'Tries', num: true },
        { key: 'reason', label: 'Reason' }], rows);
    } catch (e) { $('fo-tasks').replaceChildren(Dynamo.el('p', { class: 'error' }, e.message)); }
  }

  $('fo-apply').addEventListener('click', loadLinks);
  $('fo-tasks-apply').addEventListener('click', loadTasks);
  loadLinks();
  loadTasks();
})();
