// Pulse ETL web UI behaviour. Loaded from 'self' only (strict CSP: no inline scripts).
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Every htmx request carries the signed CSRF token (checked server-side on unsafe methods).
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  function toast(message, kind) {
    var box = document.getElementById("toast");
    if (!box) { return; }
    var item = document.createElement("div");
    item.className = "toast " + (kind || "info");
    item.textContent = message;  // text, never HTML
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, kind === "error" ? 8000 : 4000);
  }

  // Errors the server answers with (403, 404, 409, 501...) are shown, not swapped.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var text = (xhr && xhr.responseText) ? xhr.responseText : "Request failed";
    if (text.length > 300) { text = text.slice(0, 300) + "…"; }
    toast(text, "error");
  });
  document.addEventListener("htmx:sendError", function () {
    toast("The server cannot be reached; retrying on the next action.", "error");
  });

  // Server-triggered events (HX-Trigger): {"showMessage": "..."} and {"closeModal": true}.
  document.addEventListener("showMessage", function (event) {
    toast(String(event.detail && event.detail.value !== undefined ? event.detail.value : event.detail), "info");
  });
  function closeModal() {
    var holder = document.getElementById("modal");
    if (!holder) { return; }
    var dialog = holder.querySelector("dialog");
    if (dialog && dialog.open) { dialog.close(); }
    holder.innerHTML = "";
  }
  // Deferred: the other events of the same response are fired on the element that made the
  // request, which sits inside the modal; removing it first would stop them bubbling.
  document.addEventListener("closeModal", function () { setTimeout(closeModal, 0); });

  // A fragment swapped into #modal holds a <dialog>: show it as a modal.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "modal") {
      var dialog = target.querySelector("dialog");
      if (dialog && !dialog.open) {
        dialog.addEventListener("close", function () { target.innerHTML = ""; }, { once: true });
        dialog.showModal();
      }
    }
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-close-modal]") : null;
    if (button) { event.preventDefault(); closeModal(); }
  });

  // Mark the current page in the sidebar.
  function markCurrent() {
    var path = window.location.pathname;
    document.querySelectorAll("nav.sidebar a").forEach(function (link) {
      var href = link.getAttribute("href");
      if (path === href || path.indexOf(href + "/") === 0) {
        link.setAttribute("aria-current", "page");
      } else {
        link.removeAttribute("aria-current");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", markCurrent);
  document.addEventListener("htmx:pushedIntoHistory", markCurrent);
  document.addEventListener("htmx:historyRestore", markCurrent);

  // Live streams: show whether the page is receiving updates.
  document.addEventListener("htmx:sseOpen", function (event) {
    var dot = document.getElementById("live-state");
    if (dot) { dot.textContent = "live"; dot.className = "live on"; }
  });
  document.addEventListener("htmx:sseError", function () {
    var dot = document.getElementById("live-state");
    if (dot) { dot.textContent = "reconnecting"; dot.className = "live off"; }
  });
})();

// After a mapping edit, offer to replay the tenant (static/app.js reveals the banner).
document.addEventListener("configChanged", function () {
  var banner = document.getElementById("replay-banner");
  if (banner) { banner.hidden = false; }
});
