'use strict';
(() => {
  const form = document.getElementById('replica-form');
  const columns = [
    { key: 'block', label: 'Block' }, { key: 'site', label: 'Site' }, { key: 'group', label: 'Group' },
    { key: 'complete', label: 'Complete', format: v => (v ? 'yes' : 'no') },
    { key: 'size', label: 'Size', num: true, format: Dynamo.bytes },
    { key: 'num_files', label: 'Files', num: true },
    { key: 'last_update', label: 'Updated', num: true, format: v => (v ? new Date(v * 1000).toISOString().replace('T', ' ').slice(0, 19) : '') },
  ];
  async function show(event) {
    if (event) event.preventDefault();
    const target = document.getElementById('replicas-table');
    const params = { dataset: document.getElementById('replica-dataset').value };
    const site = document.getElementById('replica-site').value;
    if (site) params.site = site;
    try {
      const blocks = await Dynamo.data('inventory/blockreplicas', params);
      const rows = [];
      for (const b of blocks) for (const r of b.replicas) rows.push(Object.assign({ block: b.dataset + '#' + b.block }, r));
      Dynamo.table(target, columns, rows);
    } catch (e) { target.replaceChildren(Dynamo.el('p', { class: 'error' }, e.message)); }
  }
  form.addEventListener('submit', show);
  show();
})();
