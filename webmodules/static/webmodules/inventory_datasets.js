'use strict';
(() => {
  const form = document.getElementById('dataset-form');
  const columns = [
    { key: 'name', label: 'Dataset' }, { key: 'status', label: 'Status' }, { key: 'type', label: 'Type' },
    { key: 'num_blocks', label: 'Blocks', num: true }, { key: 'num_files', label: 'Files', num: true },
    { key: 'size', label: 'Size', num: true, format: Dynamo.bytes },
    { key: 'sites', label: 'Replicas at', format: v => (v || []).join(', ') },
  ];
  async function search(event) {
    if (event) event.preventDefault();
    const target = document.getElementById('datasets-table');
    try {
      const rows = await Dynamo.data('inventory/datasets', { dataset: document.getElementById('dataset-pattern').value });
      Dynamo.table(target, columns, rows);
    } catch (e) { target.replaceChildren(Dynamo.el('p', { class: 'error' }, e.message)); }
  }
  form.addEventListener('submit', search);
  search();
})();
