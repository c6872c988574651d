/* /web/consistency: the reports of consistency checks and the files of the one selected. */
'use strict';
(() => {
  const $ = id => document.getElementById(id);
  async function showReport(r) {
    $('cc-title').textContent = `of report ${r.id} (${r.site}, ${r.state})`;
    try {
      const report = await Dynamo.data('consistency/report', { id: String(r.id), limit: '5000' });
      Dynamo.table('cc-files', [
        { key: 'kind', label: 'Kind' }, { key: 'lfn', label: 'LFN' },
        { key: 'size', label: 'Size on storage', num: true, format: Dynamo.bytes },
        { key: 'mtime', label: 'Modified', format: v => v ? new Date(v * 1000).toISOString() : '' },
        { key: 'action', label: 'Action' }], report.files);
    } catch (e) { $('cc-files').replaceChildren(Dynamo.el('p', { class: 'error' }, e.message)); }
  }
  async function load() {
    const params = {};
    const site = $('cc-site').value.trim(); if (site) params.site = site;
    try {
      const rows = await Dynamo.data('consistency/reports', params);
      Dynamo.table('cc-reports', [
        { key: 'id', label: 'Id', num: true }, { key: 'site', label: 'Site' }, { key: 'state', label: 'State' },
        { key: 'requested', label: 'Requested' }, { key: 'inventory_files', label: 'Inventory files', num: true },
        { key: 'listed_files', label: 'Listed', num: true }, { key: 'missing', label: 'Missing', num: true },
        { key: 'orphans', label: 'Orphans', num: true }, { key: 'young_orphans', label: 'Young orphans', num: true },
        { key: 'message', label: 'Message' }], rows, { onSelect: showReport });
    } catch (e) { $('cc-reports').replaceChildren(Dynamo.el('p', { class: 'error' }, e.message)); }
  }
  $('cc-apply').addEventListener('click', load);
  load();
})();
