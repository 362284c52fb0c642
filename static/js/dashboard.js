// The dashboard's little bit of behaviour: the action dialog, row selection, the live badge.
(function () {
  "use strict";
  const dialog = () => document.getElementById("dialog");

  // A dialog body arriving from the server opens the dialog; one marked data-close shuts it.
  document.addEventListener("htmx:afterSettle", () => {
    const body = document.getElementById("dialog-body");
    const box = dialog();
    if (!body || !box) return;
    if (body.hasAttribute("data-open") && !box.open) box.showModal();
    if (body.hasAttribute("data-close") && box.open) setTimeout(() => box.close(), 600);
  });
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-close-dialog]")) dialog().close();
  });
  document.addEventListener("close", (event) => {
    if (event.target.id === "dialog") document.getElementById("dialog-body").innerHTML = "";
  }, true);

  // "Select all on this page".
  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-select-all]")) {
      document.querySelectorAll(".row-select").forEach((box) => { box.checked = event.target.checked; });
    }
  });

  // The live badge says whether the socket is connected (htmx reconnects by itself).
  const badge = (state) => {
    const el = document.getElementById("live-state");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = state === "open" ? "● live" : "○ reconnecting…";
  };
  document.addEventListener("htmx:wsOpen", () => badge("open"));
  document.addEventListener("htmx:wsClose", () => badge("closed"));
  document.addEventListener("htmx:wsError", () => badge("closed"));
})();
