// Small progressive enhancements htmx does not cover: copy buttons and the menu.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.value || source.textContent;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      button.classList.add("copied");
      setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { source.select && source.select(); });
    } else if (source.select) {
      source.select();
      document.execCommand("copy");
      done();
    }
  });
  // Print buttons (no inline script: the page's policy forbids it).
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) window.print();
  });
  // Close the menu when a link inside it is followed or a click lands elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      var nav = document.getElementById("main-nav");
      if (!menu.contains(event.target) && !(nav && nav.contains(event.target) && !event.target.closest("a, button"))) {
        menu.removeAttribute("open");
      }
    });
  });
  // A session that expired answers htmx with 401 and HX-Redirect; htmx follows it.
})();
