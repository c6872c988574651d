/* Site usage: a new partition, sort or order shows at once (the form is the page's state); a new
   sort starts in its natural order (names A to Z, numbers largest first). */
'use strict';
(() => {
  const form = document.getElementById('site-form');
  const sort = document.getElementById('sort-select');
  const order = document.getElementById('order-select');
  sort.addEventListener('change', () => { order.value = sort.value === 'name' ? 'asc' : 'desc'; form.submit(); });
  for (const select of [document.getElementById('partition-select'), order]) {
    select.addEventListener('change', () => form.submit());
  }
})();
