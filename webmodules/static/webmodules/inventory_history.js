/* The usage history charts: of one site's partition (usage, projected, quota) or of many sites. */
'use strict';
(() => {
  const chart = document.getElementById('history-chart');
  const source = document.getElementById('history-data');
  if (!chart || !source) return;
  const history = JSON.parse(source.textContent);
  let series;
  if (chart.dataset.kind === 'site') {
    const points = history.series[0].points;   // [time, quota, usage, projected]
    series = [{ label: 'usage', cls: 'usage-line', color: '#1f6feb', points: points.map(p => [p[0], p[2]]) },
              { label: 'projected', cls: 'projected-line', color: '#a8c7fa', points: points.map(p => [p[0], p[3]]) }];
    if (points.some(p => p[1] > 0)) {
      series.push({ label: 'quota', cls: 'quota-line', color: '#d1242f', points: points.filter(p => p[1] > 0).map(p => [p[0], p[1]]) });
    }
  } else {
    series = history.series.map(s => ({ label: s.label, points: s.points.map(p => [p[0], p[2]]) }));
  }
  Dynamo.lineChart(chart, series, { label: `usage of ${history.partition} over time` });
  const legend = chart.querySelector('.legend');
  for (const item of legend.querySelectorAll('.series-label')) {
    const s = series.find(x => x.label === item.dataset.series);
    if (s && s.cls) item.querySelector('.swatch').className = 'swatch ' + { 'usage-line': 'usage', 'projected-line': 'projected', 'quota-line': 'quota' }[s.cls];
  }
})();
