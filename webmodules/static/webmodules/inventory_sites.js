'use strict';
(() => {
  const charts = document.getElementById('charts');
  async function load() {
    charts.textContent = 'Loading…';
    try {
      const sites = await Dynamo.data('inventory/sites', { site: document.getElementById('site-filter').value || '*' });
      charts.replaceChildren();
      if (!sites.length) { charts.textContent = 'No site matches.'; return; }
      for (const site of sites) {
        Dynamo.barChart(charts, `${site.name} (${site.storage_type}, ${site.status})`, site.partitions.map(p => ({
          label: p.name, usage: p.usage, projected: p.projected_usage, quota: p.quota })));
      }
    } catch (e) { charts.replaceChildren(Dynamo.el('p', { class: 'error' }, e.message)); }
  }
  document.getElementById('site-apply').addEventListener('click', load);
  load();
})();
