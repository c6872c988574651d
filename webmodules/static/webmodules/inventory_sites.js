/* Site usage: a new partition, sort or order shows at once (the form is the page's state). */
'use strict';
(() => {
  const form = document.getElementById('site-form');
  for (const id of ['partition-select', 'sort-select', 'order-select']) {
    document.getElementById(id).addEventListener('change', () => form.submit());
  }
})();
