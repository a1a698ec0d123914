// The portal's one script (no inline script: the Content-Security-Policy forbids it).
// Live notifications: every element with data-poll="URL" is refreshed from the
// server-rendered HTML fragment at URL every 3 s (docs/spec/portal.md §5). The page works
// without it; this only saves a reload.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-poll]").forEach(function (el) {
    var url = el.getAttribute("data-poll");
    setInterval(function () {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "text/html"}})
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          var doc = new DOMParser().parseFromString(html, "text/html");
          el.replaceChildren.apply(el, Array.from(doc.body.childNodes));
        })
        .catch(function () { /* offline for a moment: try again next time */ });
    }, 3000);
  });
});
