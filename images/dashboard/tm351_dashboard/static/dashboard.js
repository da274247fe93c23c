// Live view of the stack's services: polls the API every two seconds, no page reloads.
"use strict";

const api = `${location.pathname.replace(/\/$/, "")}/api`;
const rows = new Map();
let hostMemory = 0;

function duration(seconds) {
  if (seconds === null) return "–";
  const hours = Math.floor(seconds / 3600), minutes = Math.floor((seconds % 3600) / 60);
  return hours ? `${hours} h ${minutes} min` : minutes ? `${minutes} min` : `${seconds} s`;
}

function setBar(bar, used, limit) {
  const share = limit ? Math.min(100, (100 * used) / limit) : 0;
  bar.style.width = `${share}%`;
  bar.classList.toggle("high", share > 90);
}

function say(text) {
  document.getElementById("message").textContent = text;
}

function row(service) {
  if (!rows.has(service.name)) {
    const tr = document.getElementById("row").content.firstElementChild.cloneNode(true);
    tr.dataset.service = service.name;
    const name = tr.querySelector(".name");
    if (service.path) {
      const link = document.createElement("a");
      link.href = service.path;
      link.textContent = service.name;
      name.append(link);
    } else {
      name.textContent = service.name;
    }
    tr.querySelectorAll("button").forEach((button) => button.addEventListener("click", () => act(service.name, button.dataset.action)));
    document.getElementById("services").append(tr);
    rows.set(service.name, tr);
  }
  return rows.get(service.name);
}

function show(service) {
  const tr = row(service);
  const state = tr.querySelector(".state");
  state.textContent = service.state;
  state.className = `state state-${service.state}`;
  const health = tr.querySelector(".health");
  const sleeping = service.state === "sleeping";
  const notes = [sleeping ? "wakes when opened" : service.health];
  if (service.healed) notes.push(`restarted ${service.healed} times when unhealthy`);
  if (service.sleeps_after_s !== null && !sleeping) notes.push(`sleeps after ${duration(service.sleeps_after_s)} without use`);
  health.textContent = notes.join(", ");
  health.className = `health health-${service.health}`;
  tr.querySelector(".uptime").textContent = duration(service.uptime_s);
  const used = service.memory_mib ?? 0;
  setBar(tr.querySelector(".memory .bar > div"), used, service.limit_mib);
  tr.querySelector(".memory span").textContent =
    service.memory_mib === null ? "–" : `${Math.round(used)} / ${service.limit_mib ?? "?"} MiB`;
  const running = service.state === "running";
  const start = tr.querySelector("[data-action=start]");
  // An app that starts on demand is woken, not started: opening its page does the same.
  start.textContent = service.sleeps_after_s === null ? "Start" : "Wake";
  start.disabled = running;
  tr.querySelector("[data-action=stop]").disabled = !running || service.essential;
  tr.querySelector("[data-action=restart]").disabled = service.essential || sleeping;
}

async function refresh() {
  try {
    const response = await fetch(`${api}/services`, { cache: "no-store" });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    const services = await response.json();
    services.forEach(show);
    const total = services.reduce((sum, service) => sum + (service.memory_mib ?? 0), 0);
    document.getElementById("total").textContent = `${Math.round(total)} MiB of ${hostMemory || "?"} MiB on this machine`;
    setBar(document.getElementById("total-bar"), total, hostMemory);
  } catch (error) {
    say(`Could not read the services: ${error.message}`);
  }
}

async function act(name, action) {
  if (action === "logs") return logs(name);
  say(`${action[0].toUpperCase()}${action.slice(1)}ing ${name}…`);
  const response = await fetch(`${api}/services/${encodeURIComponent(name)}/${action}`, { method: "POST" });
  const body = await response.json().catch(() => ({}));
  say(response.ok ? `${name}: ${body.state}` : body.error || `${action} failed: ${response.status}`);
  refresh();
}

async function logs(name) {
  const response = await fetch(`${api}/services/${encodeURIComponent(name)}/logs?lines=100`);
  document.getElementById("logs-name").textContent = name;
  document.getElementById("logs-text").textContent = await response.text();
  document.getElementById("logs").hidden = false;
}

async function start() {
  const host = await fetch(`${api}/host`).then((response) => response.json()).catch(() => ({}));
  hostMemory = host.memory_mib || 0;
  await refresh();
  setInterval(refresh, 2000);
}

start();
