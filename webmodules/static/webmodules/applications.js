'use strict';
(() => {
  const output = document.getElementById('app-output');
  let selected = null; let timer = null;
  const columns = [
    { key: 'id', label: 'Id', num: true }, { key: 'title', label: 'Title' }, { key: 'user', label: 'User' },
    { key: 'state', label: 'State' }, { key: 'exit_code', label: 'Exit', num: true },
    { key: 'write_request', label: 'Write', format: v => (v ? 'yes' : '') },
    { key: 'created', label: 'Submitted', format: v => (v || '').replace('T', ' ').slice(0, 19) },
  ];
  async function follow() {
    if (selected === null) return;
    try {
      const out = await Dynamo.data('applications/output', { id: selected });
      output.textContent = out.output || '(no output yet)';
      document.getElementById('output-title').textContent = `of application ${out.id} (${out.state})`;
      if (out.state === 'new' || out.state === 'assigned' || out.state === 'run') timer = setTimeout(follow, 1000);
    } catch (e) { output.textContent = e.message; }
  }
  async function load() {
    try {
      const apps = await Dynamo.data('applications/list', { limit: 200 });
      Dynamo.table('apps-table', columns, apps, {
        onSelect: app => { selected = app.id; clearTimeout(timer); follow(); },
        empty: 'No application has been submitted yet. Run one with "manage.py dynamo SCRIPT", or POST it to /data/applications/submit; scheduled cycles (Detox, Dealer, usage) appear here too.' });
      if (!apps.length) output.textContent = 'No output: there is no application.';
    } catch (e) { document.getElementById('apps-table').replaceChildren(Dynamo.el('p', { class: 'error' }, e.message)); }
  }
  load();
})();
