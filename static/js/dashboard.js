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

  // The live badge says what the socket is: "connecting" as the page loads (the markup's own),
  // "live" once it opened, "reconnecting" after it dropped (htmx tries again by itself after an
  // abnormal close or a server restart), and why not when the server ended it for good.
  const SAYS = {
    open: ["● live", "Live updates"],
    closed: ["○ reconnecting…", "The page shows what it had; live updates resume once reconnected"],
    ended: ["○ logged out", "This session ended: reload the page to log in again"],
    refused: ["○ not live", "Live updates are not allowed for this account"],
  };
  const badge = (state) => {
    const el = document.getElementById("live-state");
    if (!el) return;
    el.dataset.state = state;
    [el.textContent, el.title] = SAYS[state];
  };
  const CLOSED_FOR_GOOD = { 4401: "ended", 4403: "refused" }; // dashboard/consumers.py
  document.addEventListener("htmx:wsOpen", () => badge("open"));
  document.addEventListener("htmx:wsClose", (event) => {
    const code = event.detail && event.detail.event ? event.detail.event.code : 0;
    badge(CLOSED_FOR_GOOD[code] || "closed");
  });
  document.addEventListener("htmx:wsError", () => badge("closed"));
})();
