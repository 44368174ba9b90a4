/* Small conveniences of the console; every page works without them.
   - [data-compare] forms: the compare button is enabled while 2 to 4 runs are ticked;
   - [data-copy] buttons copy the text of the element their value names (API tokens);
   - [data-confirm] forms ask before they are sent (revoking, deactivating). */
(function () {
  "use strict";

  function compareForms() {
    document.querySelectorAll("form[data-compare]").forEach(function (form) {
      var button = form.querySelector("[data-compare-button]");
      if (!button) return;
      var low = Number(form.getAttribute("data-min")), high = Number(form.getAttribute("data-max"));
      function update() {
        var ticked = form.querySelectorAll("input[name=run]:checked").length;
        button.disabled = ticked < low || ticked > high;
      }
      form.addEventListener("change", update);
      update();
    });
  }

  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-copy"));
        if (!target || !navigator.clipboard) return;
        navigator.clipboard.writeText(target.textContent.trim()).then(function () {
          button.textContent = button.getAttribute("data-copied") || button.textContent;
        });
      });
    });
  }

  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  }

  function init() { compareForms(); copyButtons(); confirmations(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
