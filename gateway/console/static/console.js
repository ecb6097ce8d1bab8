// The console's little bit of behaviour: copy buttons, confirmations, live tables and charts, job progress.
// Loaded from /static (the Content-Security-Policy allows no inline script); every page works without it.
"use strict";

function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text);
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.appendChild(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
}

function setUpCopyButtons() {
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.copy");
    if (!button) return;
    const label = button.textContent;
    copyText(button.dataset.copy).then(
      () => { button.textContent = "Copied"; button.classList.add("done"); },
      () => { button.textContent = "Select and copy"; });
    setTimeout(() => { button.textContent = label; button.classList.remove("done"); }, 2000);
  });
}

function setUpConfirmations() {
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });
}

function refreshEvery(element, url, seconds, enabled) {
  const tick = () => {
    if (document.hidden || (enabled && !enabled())) return;
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
      .then((html) => { element.innerHTML = html; })
      .catch(() => {});
  };
  setInterval(tick, seconds * 1000);
}

function setUpLive() {
  const live = document.getElementById("live");
  document.querySelectorAll("[data-live]").forEach((element) => {
    refreshEvery(element, element.dataset.live, Number(element.dataset.every || 5), () => !live || live.checked);
  });
  document.querySelectorAll("[data-refresh]").forEach((element) => {
    refreshEvery(element, element.dataset.refresh, Number(element.dataset.every || 15));
  });
}

function followJob(element) {
  const bar = element.querySelector(".bar span");
  const text = element.querySelector(".job-text");
  const poll = () => {
    fetch("/jobs/" + encodeURIComponent(element.dataset.job), { credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((job) => {
        const done = Number(job.done || 0);
        const total = Number(job.total || 1);
        bar.style.width = Math.round((100 * done) / total) + "%";
        if (job.state === "running") {
          text.textContent = job.current
            ? "Creating pair " + job.current + " (" + (done + 1) + " of " + total + ")…"
            : "Starting…";
          setTimeout(poll, 400);
        } else {
          element.classList.add(job.state);
          text.textContent = (job.state === "done" ? "Done: " : "Failed: ") + (job.message || "");
          if (job.state === "done") {
            const reload = document.createElement("a");
            reload.href = window.location.pathname;
            reload.textContent = " Show the pairs";
            text.appendChild(reload);
            setTimeout(() => window.location.replace(window.location.pathname), 1500);
          }
        }
      })
      .catch(() => { text.textContent = "Progress unavailable: reload the page."; });
  };
  poll();
}

document.addEventListener("DOMContentLoaded", () => {
  setUpCopyButtons();
  setUpConfirmations();
  setUpLive();
  document.querySelectorAll("[data-job]").forEach(followJob);
});
