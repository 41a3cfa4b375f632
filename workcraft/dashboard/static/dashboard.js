// workcraft dashboard: refresh the live region in place, and send actions.
//
// Served as a file because the Content-Security-Policy forbids inline script.
// Nothing here builds HTML from strings: fragments come from the server already
// escaped (parsed with DOMParser, which runs no script), and every message we
// write ourselves goes in through textContent.
"use strict";

(function () {
  const TOKEN_KEY = "workcraft-dashboard-token";
  const body = document.body;
  const refreshMs = Number(body.dataset.refreshMs) || 5000;
  const auto = document.getElementById("wk-auto");
  const updated = document.getElementById("wk-updated");
  const message = document.getElementById("wk-message");
  const tokenInput = document.getElementById("wk-token");
  let inFlight = false;

  function say(text, kind) {
    message.textContent = text;
    message.className = "message " + (kind || "");
    message.hidden = !text;
  }

  function selectingText() {
    const sel = window.getSelection();
    return sel !== null && sel.toString().length > 0;
  }

  async function refresh(force) {
    const live = document.getElementById("live");
    if (!live || inFlight) return;
    if (!force) {
      if (document.hidden || (auto && !auto.checked) || selectingText()) return;
      if (live.querySelector("[data-refresh-stop]")) return;
      if (live.querySelector("details[open]")) return;
    }
    inFlight = true;
    try {
      const url = new URL(window.location.href);
      url.hash = "";
      url.searchParams.set("partial", "1");
      const response = await fetch(url, { cache: "no-store", credentials: "same-origin" });
      if (!response.ok) {
        updated.textContent = "refresh failed: HTTP " + response.status;
        updated.classList.add("stale");
        return;
      }
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.getElementById("live");
      if (fresh) {
        live.replaceWith(document.adoptNode(fresh));
      }
      updated.textContent = "updated " + new Date().toLocaleTimeString();
      updated.classList.remove("stale");
    } catch (err) {
      updated.textContent = "refresh failed: " + err.message;
      updated.classList.add("stale");
    } finally {
      inFlight = false;
    }
  }

  // --- the action token: typed once per tab, or handed over in the URL fragment
  // (#token=...), which browsers never send to the server, so it is in no log.
  function takeTokenFromFragment() {
    const match = /^#token=(.+)$/.exec(window.location.hash);
    if (!match) return;
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }

  if (tokenInput) {
    takeTokenFromFragment();
    tokenInput.value = sessionStorage.getItem(TOKEN_KEY) || "";
    tokenInput.addEventListener("input", () => {
      sessionStorage.setItem(TOKEN_KEY, tokenInput.value);
    });
  }

  async function act(button) {
    const token = tokenInput ? tokenInput.value : "";
    if (!token) {
      say("Enter the action token (top right) first.", "bad");
      if (tokenInput) tokenInput.focus();
      return;
    }
    const confirmText = button.dataset.confirm;
    if (confirmText && !window.confirm(confirmText)) return;
    const payload = {};
    if (button.dataset.task) payload.task_id = button.dataset.task;
    if (button.dataset.queue !== undefined) payload.queue = button.dataset.queue;
    button.disabled = true;
    try {
      const response = await fetch("/api/actions/" + encodeURIComponent(button.dataset.action), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Workcraft-Token": token },
        body: JSON.stringify(payload),
      });
      let answer = {};
      try {
        answer = await response.json();
      } catch (err) {
        answer = { error: "HTTP " + response.status };
      }
      if (response.ok) {
        say(answer.message || "done", "good");
      } else {
        say(answer.error || "HTTP " + response.status, "bad");
      }
    } catch (err) {
      say("the action did not reach the dashboard: " + err.message, "bad");
    } finally {
      button.disabled = false;
      await refresh(true);
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) {
      event.preventDefault();
      act(button);
    }
  });

  if (auto) auto.addEventListener("change", () => refresh(false));
  document.addEventListener("visibilitychange", () => refresh(false));
  window.setInterval(() => refresh(false), refreshMs);
})();
