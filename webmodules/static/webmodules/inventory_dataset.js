/* A dataset's page: the files of a block, fetched from /data/inventory/files when asked for. */
'use strict';
(() => {
  async function toggle(button) {
    const row = button.closest('tr');
    const open = row.nextElementSibling && row.nextElementSibling.classList.contains('sub') ? row.nextElementSibling : null;
    if (open) { open.remove(); button.setAttribute('aria-expanded', 'false'); button.textContent = 'Files'; return; }
    const cell = Dynamo.el('td', { colspan: row.children.length }, 'Loading…');
    const sub = Dynamo.el('tr', { class: 'sub', 'data-files-of': button.dataset.block }, cell);
    row.after(sub);
    button.setAttribute('aria-expanded', 'true'); button.textContent = 'Hide files';
    try {
      const files = await Dynamo.data('inventory/files', { block: button.dataset.block, limit: 1000 });
      const table = Dynamo.el('table', { class: 'data files' },
        Dynamo.el('thead', {}, Dynamo.el('tr', {}, Dynamo.el('th', {}, 'File'), Dynamo.el('th', { class: 'num' }, 'Size'), Dynamo.el('th', {}, 'Checksums'))),
        Dynamo.el('tbody', {}, ...files.map(f => Dynamo.el('tr', {},
          Dynamo.el('td', { class: 'name mono' }, f.name), Dynamo.el('td', { class: 'num' }, Dynamo.bytes(f.size)),
          Dynamo.el('td', { class: 'mono' }, Object.entries(f.checksum).map(([k, v]) => `${k}:${v}`).join(' '))))));
      cell.replaceChildren(files.length ? table : 'No file is known for this block.');
    } catch (e) { cell.replaceChildren(Dynamo.el('span', { class: 'error' }, e.message)); }
  }
  document.addEventListener('click', (event) => {
    const button = event.target.closest('button.show-files');
    if (button) toggle(button);
  });
})();
