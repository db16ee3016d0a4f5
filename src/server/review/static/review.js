// Roster's reviewer page: a little help on top of plain HTML forms, which work without it.
// Served from /review/static (the Content-Security-Policy allows no inline script).
(function () {
  'use strict';
  // The link's token has become a cookie: take it out of the address bar and the history.
  var url = new URL(window.location.href);
  if (url.searchParams.has('t')) {
    url.searchParams.delete('t');
    window.history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  document.addEventListener('DOMContentLoaded', function () {
    var all = document.getElementById('select-all');
    var boxes = function () {
      return Array.prototype.slice.call(document.querySelectorAll('input.select-item'));
    };
    if (all) {
      all.addEventListener('change', function () {
        boxes().forEach(function (b) {
          b.checked = all.checked;
        });
      });
    }
    // Filters apply as soon as one changes.
    ['f-resource', 'f-permission', 'f-flag', 'f-undecided'].forEach(function (id) {
      var el = document.getElementById(id);
      if (el && el.form) {
        el.addEventListener('change', function () {
          el.form.submit();
        });
      }
    });
    // "Keep selected…" says how many before it goes to the confirmation page.
    var keep = document.getElementById('keep-selected');
    var update = function () {
      if (!keep) return;
      var n = boxes().filter(function (b) {
        return b.checked;
      }).length;
      keep.textContent = n > 0 ? 'Keep ' + n + ' selected…' : 'Keep selected…';
    };
    document.addEventListener('change', function (e) {
      if (e.target && e.target.classList && (e.target.classList.contains('select-item') || e.target.id === 'select-all')) update();
    });
    update();
  });
})();
