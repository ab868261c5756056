// keyledger console: copy buttons, clickable rows, confirmations in place.
// Everything here is an enhancement: without it every control still works
// (confirmations then open their own page).
(function () {
  "use strict";

  function announce(id, text) {
    var status = document.querySelector('[data-copy-status="' + id + '"]');
    if (!status) return;
    status.textContent = text;
    window.setTimeout(function () { status.textContent = ""; }, 2500);
  }

  function copyFallback(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var done = false;
    try { done = document.execCommand("copy"); } catch (e) { done = false; }
    document.body.removeChild(area);
    return done;
  }

  document.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var id = copy.getAttribute("data-copy");
      var text = document.getElementById(id).textContent.trim();
      var ok = function () { announce(id, "Copied"); };
      var fail = function () {
        if (copyFallback(text)) { ok(); } else { announce(id, "Select the text and copy it"); }
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(ok, fail);
      } else {
        fail();
      }
      return;
    }

    var cancel = event.target.closest("[data-cancel]");
    if (cancel) {
      closeConfirm(document.getElementById(cancel.getAttribute("data-cancel")));
      return;
    }

    // A click anywhere on a key's row opens it, unless it hit a link or the
    // user was selecting text to copy.
    var row = event.target.closest("tr[data-href]");
    if (row && !event.target.closest("a, button, input, select, textarea")) {
      if (window.getSelection && String(window.getSelection()).length > 0) return;
      window.location.assign(row.getAttribute("data-href"));
    }
  });

  // A trigger form with fields (the roll's grace period) hands what was
  // typed to the confirming form's hidden field of the same name, and to the
  // question's text.
  function carryFields(form, panel) {
    panel.querySelectorAll('input[type="hidden"]').forEach(function (hidden) {
      var source = form.elements[hidden.name];
      if (hidden.name !== "csrf_token" && source) hidden.value = source.value.trim();
    });
    panel.querySelectorAll("[data-mirror]").forEach(function (mirror) {
      var source = form.elements[mirror.getAttribute("data-mirror")];
      if (source) mirror.textContent = source.value.trim();
    });
  }

  function openConfirm(form) {
    var panel = document.getElementById(form.getAttribute("data-confirm"));
    carryFields(form, panel);
    form.hidden = true;
    panel.hidden = false;
    var first = panel.querySelector("button");
    if (first) first.focus();
  }

  function closeConfirm(panel) {
    if (!panel) return;
    panel.hidden = true;
    var form = document.querySelector('[data-confirm="' + panel.id + '"]');
    if (form) {
      form.hidden = false;
      var trigger = form.querySelector("button");
      if (trigger) trigger.focus();
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form) {
      event.preventDefault();
      openConfirm(form);
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var panel = event.target.closest(".confirm");
    if (panel) closeConfirm(panel);
  });
})();
