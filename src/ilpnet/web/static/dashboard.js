// ilpnet dashboard: renders the server's picture of the network and applies live deltas
// from /events (server-sent events). Plain modern JS, no dependencies.
"use strict";

const W = 800;
const H = 480;
const CX = W / 2;
const CY = 228;
const PALETTE = ["#4f7cff", "#a855f7", "#f59e0b", "#10b981", "#ef4444", "#06b6d4", "#ec4899"];
const SVG_NS = "http://www.w3.org/2000/svg";
const MAX_ACCOUNTS_SHOWN = 6;

let state = null;
const seenPayments = new Set();

// ---- small helpers ----------------------------------------------------------------------

const $ = (sel, root = document) => root.querySelector(sel);

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function s(tag, attrs = {}, text = null) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  if (text !== null) el.textContent = text;
  return el;
}

/** "12500000", scale 6 → "12.5" (exact, with thousands separators). */
function fmt(amount, scale) {
  if (amount === null || amount === undefined || amount === "") return "—";
  let v;
  try { v = BigInt(amount); } catch { return String(amount); }
  const neg = v < 0n;
  if (neg) v = -v;
  const base = 10n ** BigInt(scale || 0);
  const whole = (v / base).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  let frac = scale ? (v % base).toString().padStart(scale, "0").replace(/0+$/, "") : "";
  if (frac.length > 6) frac = frac.slice(0, 6) + "…";
  return (neg ? "-" : "") + whole + (frac ? "." + frac : "");
}

function ledgerColor(key) {
  const keys = Object.keys(state.ledgers);
  const i = keys.indexOf(key);
  return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
}

function asset(key) {
  const l = state && state.ledgers[key];
  return l ? l.asset : "";
}

function money(amount, key) {
  const l = state && state.ledgers[key];
  return l ? `${fmt(amount, l.scale)} ${l.asset}` : String(amount);
}

function nodeLabel(id) {
  const [kind, rest] = [id.slice(0, id.indexOf(":")), id.slice(id.indexOf(":") + 1)];
  if (kind === "ledger") return state.ledgers[rest] ? state.ledgers[rest].name : rest;
  if (kind === "account") {
    const [ledger, account] = rest.split("/");
    return `${account}@${asset(ledger) || ledger}`;
  }
  return rest;
}

// ---- layout -----------------------------------------------------------------------------

function layout() {
  const pos = {};
  const keys = Object.keys(state.ledgers);
  const n = keys.length;
  keys.forEach((key, i) => {
    if (n === 1) pos[`ledger:${key}`] = { x: CX, y: CY };
    else if (n === 2) pos[`ledger:${key}`] = { x: i === 0 ? 250 : 550, y: CY };
    else {
      const a = ((-90 - 180 / n + (360 * i) / n) * Math.PI) / 180;
      pos[`ledger:${key}`] = { x: CX + 250 * Math.cos(a), y: CY + 125 * Math.sin(a) };
    }
  });
  const taken = new Map();
  for (const [name, c] of Object.entries(state.connectors)) {
    const ps = (c.ledgers || []).map((k) => pos[`ledger:${k}`]).filter(Boolean);
    let p;
    if (ps.length === 0) p = { x: CX, y: CY };
    else {
      p = { x: ps.reduce((a, q) => a + q.x, 0) / ps.length, y: ps.reduce((a, q) => a + q.y, 0) / ps.length };
      if (ps.length === 1) p = { x: p.x + (CX - p.x) * 0.45, y: p.y + (CY - p.y) * 0.45 };
    }
    const slot = `${Math.round(p.x / 20)},${Math.round(p.y / 20)}`;
    const k = taken.get(slot) || 0;
    taken.set(slot, k + 1);
    pos[`connector:${name}`] = { x: p.x + (k % 2 ? -1 : 1) * Math.ceil(k / 2) * 70, y: p.y + Math.ceil(k / 2) * 26 };
  }
  for (const key of keys) {
    const lp = pos[`ledger:${key}`];
    let dx = lp.x - CX;
    let dy = lp.y - CY;
    const len = Math.hypot(dx, dy);
    if (len < 1) { dx = 0; dy = 1; } else { dx /= len; dy /= len; }
    const base = Math.atan2(dy, dx);
    const accounts = shownAccounts(key);
    accounts.forEach((name, i) => {
      const off = (i - (accounts.length - 1) / 2) * 0.52;
      const a = base + off;
      pos[`account:${key}/${name}`] = { x: lp.x + 92 * Math.cos(a), y: lp.y + 80 * Math.sin(a) };
    });
  }
  return pos;
}

function shownAccounts(key) {
  return Object.keys(state.ledgers[key].accounts || {}).sort().slice(0, MAX_ACCOUNTS_SHOWN);
}

function connectorAccount(c, match) {
  return (c.accounts || []).find((a) => match(a)) || null;
}

function edgeLabel(account, scale) {
  if (!account || account.balance === null) return "";
  let t = `bal ${fmt(account.balance, scale)}`;
  if (account.maximum !== null && account.maximum !== undefined) t += ` · max ${fmt(account.maximum, scale)}`;
  if (account.minimum !== null && account.minimum !== undefined) t += ` · min ${fmt(account.minimum, scale)}`;
  return t;
}

// ---- graph ------------------------------------------------------------------------------

let positions = {};

function renderGraph() {
  const edges = $("#edges");
  const nodes = $("#nodes");
  edges.replaceChildren();
  nodes.replaceChildren();
  positions = layout();
  const keys = Object.keys(state.ledgers);
  $("#graph-empty").hidden = keys.length > 0;
  $("#graph-legend").textContent = keys.length
    ? `${keys.length} ledger${keys.length === 1 ? "" : "s"} · ${Object.keys(state.connectors).length} connector${Object.keys(state.connectors).length === 1 ? "" : "s"}`
    : "";

  const line = (a, b, cls, label, id) => {
    const p = positions[a];
    const q = positions[b];
    if (!p || !q) return;
    edges.append(s("line", { x1: p.x, y1: p.y, x2: q.x, y2: q.y, class: `edge ${cls}`, "data-edge": id }));
    if (label) {
      // the balance on the edge, the limits on a second line (long peer labels overlapped
      // their neighbours'); the whole text as the tooltip
      const [first, ...rest] = label.split(" · ");
      const x = (p.x + q.x) / 2;
      const t = s("text", { x, y: (p.y + q.y) / 2 - 5, "text-anchor": "middle", class: "edge-label", "data-edge-label": id }, first);
      if (rest.length) {
        const more = s("tspan", { x, dy: 12 }, rest.join(" · "));
        t.append(more);
      }
      const tip = s("title", {}, label);
      t.append(tip);
      edges.append(t);
    }
  };

  // connector ↔ ledger and connector ↔ connector
  const peerDone = new Set();
  for (const [name, c] of Object.entries(state.connectors)) {
    for (const key of c.ledgers || []) {
      const l = state.ledgers[key];
      if (!l) continue;
      const acc = connectorAccount(c, (a) => a.id === `ledger-${key}` || a.ledger === key || a.id === key || a.id === l.name);
      line(`connector:${name}`, `ledger:${key}`, "link", edgeLabel(acc, l.scale), `${name}~${key}`);
    }
    for (const peer of c.peers || []) {
      const pair = [name, peer].sort().join("~");
      if (peerDone.has(pair) || !state.connectors[peer]) continue;
      peerDone.add(pair);
      const acc = connectorAccount(c, (a) => a.id === peer);
      line(`connector:${name}`, `connector:${peer}`, "peer", acc ? edgeLabel(acc, acc.scale) : "BTP", pair);
    }
  }
  // accounts
  for (const key of keys) {
    for (const name of shownAccounts(key)) {
      line(`account:${key}/${name}`, `ledger:${key}`, "account", "", `${key}/${name}`);
    }
  }

  for (const key of keys) {
    const l = state.ledgers[key];
    const p = positions[`ledger:${key}`];
    const color = ledgerColor(key);
    const g = s("g", { class: `node ledger${l.healthy === false ? " down" : ""}`, "data-node": `ledger:${key}`, transform: `translate(${p.x},${p.y})` });
    g.append(s("circle", { r: 38, class: "ring", stroke: color }));
    g.append(s("circle", { r: 30, fill: color, opacity: 0.14, stroke: "none" }));
    g.append(s("text", { y: -2, "text-anchor": "middle", class: "title" }, l.asset));
    g.append(s("text", { y: 13, "text-anchor": "middle", class: "subtitle" }, l.name));
    const books = l.books;
    const mark = books ? (books.balanced ? "books ✓" : "books ✗") : l.healthy === false ? "down" : "…";
    g.append(s("text", { y: 54, "text-anchor": "middle", class: "subtitle" }, mark));
    nodes.append(g);
    for (const name of shownAccounts(key)) {
      const ap = positions[`account:${key}/${name}`];
      const ag = s("g", { class: "node account", "data-node": `account:${key}/${name}`, transform: `translate(${ap.x},${ap.y})` });
      ag.append(s("circle", { r: 7, stroke: color }));
      const below = ap.y >= p.y - 10;
      ag.append(s("text", { y: below ? 21 : -22, "text-anchor": "middle", class: "title" }, name));
      ag.append(s("text", { y: below ? 34 : -10, "text-anchor": "middle", class: "balance" }, `${fmt(l.accounts[name], l.scale)} ${l.asset}`));
      nodes.append(ag);
    }
  }
  for (const [name, c] of Object.entries(state.connectors)) {
    const p = positions[`connector:${name}`];
    const down = c.reachable === false;
    const g = s("g", { class: `node connector${down ? " down" : ""}`, "data-node": `connector:${name}`, transform: `translate(${p.x},${p.y})` });
    g.append(s("rect", { x: -46, y: -17, width: 92, height: 34, rx: 9 }));
    g.append(s("text", { y: -1, "text-anchor": "middle", class: "title" }, name));
    const pk = c.packets || { fulfilled: 0, rejected: 0 };
    const sub = c.admin ? `✓${pk.fulfilled} ✗${pk.rejected}` : c.public_url ? "escrow" : c.address || "";
    g.append(s("text", { y: 12, "text-anchor": "middle", class: "subtitle" }, sub));
    nodes.append(g);
  }
  fitGraph();
}

/** Fit the view box to what is drawn, so the graph fills its card at any size. */
function fitGraph() {
  const svg = $("#graph");
  let box;
  try { box = $("#scene").getBBox(); } catch { return; }
  if (!box || box.width === 0) { svg.setAttribute("viewBox", `0 0 ${W} ${H}`); return; }
  const pad = 24;
  const w = Math.max(box.width + 2 * pad, 520);
  const hgt = Math.max(box.height + 2 * pad, 280);
  const x = box.x + box.width / 2 - w / 2;
  const y = box.y + box.height / 2 - hgt / 2;
  svg.setAttribute("viewBox", `${x.toFixed(1)} ${y.toFixed(1)} ${w.toFixed(1)} ${hgt.toFixed(1)}`);
}

function flashNode(id) {
  const el = document.querySelector(`[data-node="${CSS.escape(id)}"]`);
  if (!el) return;
  el.classList.remove("flash");
  void el.getBoundingClientRect();
  el.classList.add("flash");
}

function animatePath(path, ok) {
  const pts = path.map((id) => positions[id]).filter(Boolean);
  path.forEach(flashNode);
  if (pts.length < 2 || window.matchMedia("(prefers-reduced-motion: reduce)").matches) return;
  const dot = s("circle", { r: 6, class: "pulse", fill: ok ? "var(--ok)" : "var(--bad)", color: ok ? "var(--ok)" : "var(--bad)" });
  $("#pulses").append(dot);
  const perLeg = 420;
  const t0 = performance.now();
  const step = (t) => {
    const k = Math.max(0, (t - t0) / perLeg); // a frame's time can precede t0
    const i = Math.floor(k);
    if (i >= pts.length - 1) { dot.remove(); return; }
    const f = k - i;
    dot.setAttribute("cx", pts[i].x + (pts[i + 1].x - pts[i].x) * f);
    dot.setAttribute("cy", pts[i].y + (pts[i + 1].y - pts[i].y) * f);
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

// ---- panels -----------------------------------------------------------------------------

function renderStats() {
  $("#network-name").textContent = state.name;
  document.title = `${state.name} · dashboard`;
  $("#stat-ledgers").textContent = Object.keys(state.ledgers).length;
  $("#stat-connectors").textContent = Object.keys(state.connectors).length;
  $("#stat-pay-ok").textContent = state.counts.fulfilled || 0;
  $("#stat-pay-bad").textContent = state.counts.rejected || 0;
  let ok = 0;
  let bad = 0;
  for (const c of Object.values(state.connectors)) {
    ok += (c.packets && c.packets.fulfilled) || 0;
    bad += (c.packets && c.packets.rejected) || 0;
  }
  $("#stat-pkt-ok").textContent = ok;
  $("#stat-pkt-bad").textContent = bad;
}

function paymentRow(p, fresh) {
  const when = new Date(p.finished_at);
  const path = h("span", { class: "path" });
  p.path.forEach((id, i) => {
    if (i) path.append(" → ");
    path.append(h("b", { text: nodeLabel(id) }));
  });
  const dest = p.destination.startsWith("$") ? p.destination : `${p.destination}@${asset(p.destination_ledger)}`;
  const result = h("td", {}, h("span", { class: `tag ${p.state}`, text: p.state }));
  if (p.error) result.append(h("div", { class: "err", text: p.error }));
  return h("tr", { "data-payment-id": p.id, class: fresh ? "fresh" : null },
    h("td", { text: when.toLocaleTimeString() }),
    // a payment seen at a test receiver: STREAM does not say who sent it
    h("td", { text: p.source_account ? `${p.source_account}@${asset(p.source_ledger)}` : "ILP sender" }),
    h("td", { text: dest }),
    h("td", { class: "num", text: money(p.amount, p.source_ledger) }),
    h("td", {}, path),
    h("td", { class: "num", text: `${p.millis} ms` }),
    result);
}

function renderPayments(freshId = null) {
  const body = $("#payments tbody");
  body.replaceChildren(...state.payments.map((p) => paymentRow(p, p.id === freshId)));
  $("#payments-empty").hidden = state.payments.length > 0;
}

function kv(pairs) {
  const dl = h("dl", { class: "kv" });
  for (const [k, v] of pairs) dl.append(h("dt", { text: k }), h("dd", { text: v }));
  return dl;
}

function renderLedgers() {
  const root = $("#ledgers");
  root.replaceChildren();
  for (const [key, l] of Object.entries(state.ledgers)) {
    const b = l.books;
    const status = l.healthy === false ? h("span", { class: "bad small", text: "down" }) : null;
    const card = h("div", { class: "card ledger-card", "data-ledger": key },
      h("h3", {}, h("span", { class: "dot", style: `background:${ledgerColor(key)}` }), l.name, h("span", { class: "muted small", text: `${l.asset} · scale ${l.scale}` }), status),
      h("div", { class: "muted small" }, h("code", { text: l.url })));
    if (b) {
      const books = h("div", { class: "books" },
        h("span", { class: `books-state ${b.balanced ? "ok" : "bad"}`, text: b.balanced ? "✓ books balance" : "✗ books do not balance" }),
        kv([
          ["minted", money(b.minted, key)],
          ["balances", money(b.balances, key)],
          ["escrowed", money(b.escrowed, key)],
          ["channel-locked", money(b.channel_locked, key)],
          ["fees burned", money(b.fees_burned, key)],
        ]));
      card.append(books);
    } else if (l.error) {
      card.append(h("p", { class: "err", text: l.error }));
    }
    const accounts = Object.entries(l.accounts || {});
    if (accounts.length) {
      card.append(h("div", { class: "sub" }, h("h4", { text: "Accounts the dashboard watches" }),
        kv(accounts.sort().map(([n, bal]) => [n, money(bal, key)]))));
    }
    root.append(card);
  }
}

function miniTable(head, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, head.map((x) => h("th", { text: x })))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((x) => h("td", { text: x }))))));
}

/** A rate for reading (7 significant digits); the exact fraction stays in the data. */
function shortRate(text) {
  const n = Number(text);
  if (!Number.isFinite(n) || text === "") return String(text);
  return n >= 1e-4 && n < 1e9 ? String(Number(n.toPrecision(7))) : n.toPrecision(7);
}

function renderConnectors() {
  const root = $("#connectors");
  root.replaceChildren();
  const entries = Object.entries(state.connectors);
  $("#connectors-empty").hidden = entries.length > 0;
  for (const [name, c] of entries) {
    const reach = !c.admin ? h("span", { class: "muted small", text: "no admin API" })
      : c.reachable === null ? h("span", { class: "muted small", text: "…" })
      : c.reachable ? h("span", { class: "ok small", text: "up" }) : h("span", { class: "bad small", text: "admin API unreachable" });
    const card = h("div", { class: "card connector-card", "data-connector": name },
      h("h3", {}, name, reach),
      kv([
        ["ILP address", c.address || "—"],
        ["packets", `${(c.packets || {}).fulfilled || 0} fulfilled · ${(c.packets || {}).rejected || 0} rejected`],
        ["BTP", c.btp_url || "—"],
        ["HTTP", c.http_url || "—"],
      ]));
    if ((c.accounts || []).length) {
      card.append(h("div", { class: "sub" }, h("h4", { text: "Accounts" }),
        miniTable(["account", "balance", "min", "max"], c.accounts.map((a) => [a.id, fmt(a.balance, a.scale), fmt(a.minimum, a.scale), fmt(a.maximum, a.scale)]))));
    }
    if ((c.routes || []).length) {
      card.append(h("div", { class: "sub" }, h("h4", { text: "Routes" }),
        miniTable(["prefix", "next hop", "path"], c.routes.map((r) => [r.prefix, r.next_hop, (r.path || []).join(" → ") || "—"]))));
    }
    if ((c.rates || []).length) {
      card.append(h("div", { class: "sub" }, h("h4", { text: "Rates" }),
        miniTable(["pair", "rate"], c.rates.map((r) => [r.pair, shortRate(r.rate)]))));
    }
    if (c.error) card.append(h("p", { class: "err", text: c.error }));
    root.append(card);
  }
}

// ---- forms ------------------------------------------------------------------------------

function fillSelects() {
  for (const sel of document.querySelectorAll(".ledger-select")) {
    const keep = sel.value;
    const keys = Object.keys(state.ledgers);
    sel.replaceChildren(...keys.map((k) => h("option", { value: k, text: `${state.ledgers[k].asset} · ${state.ledgers[k].name}` })));
    if (keys.includes(keep)) sel.value = keep;
  }
  updateFormHints();
}

function accountsOn(key) {
  const l = state.ledgers[key];
  return l ? Object.keys(l.accounts || {}).sort() : [];
}

function updateFormHints() {
  for (const form of document.querySelectorAll("form")) {
    const unit = form.querySelector('[data-unit-for="ledger"]');
    if (unit && form.elements.ledger) unit.textContent = asset(form.elements.ledger.value);
  }
  const f = $("#faucet-form");
  const sf = $("#send-form");
  const opts = (names) => names.map((n) => h("option", { value: n }));
  $("#accounts-all").replaceChildren(...opts(accountsOn(f.elements.ledger.value)));
  $("#accounts-from").replaceChildren(...opts(accountsOn(sf.elements.ledger.value)));
  const pointers = (state.receivers || []).map((r) => r.pointer);
  $("#accounts-to").replaceChildren(...opts([...accountsOn(sf.elements.to_ledger.value), ...pointers]));
}

async function submitForm(form, url) {
  const out = form.querySelector(".result");
  const button = form.querySelector("button");
  const body = Object.fromEntries(new FormData(form).entries());
  button.disabled = true;
  out.className = "result";
  out.textContent = "…";
  try {
    const resp = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const answer = await resp.json();
    return { ok: resp.ok, answer };
  } catch (err) {
    return { ok: false, answer: { message: `dashboard not reachable: ${err}` } };
  } finally {
    button.disabled = false;
  }
}

function show(form, ok, text) {
  const out = form.querySelector(".result");
  out.className = `result ${ok ? "ok" : "bad"}`;
  out.textContent = text;
}

function wireForms() {
  const faucet = $("#faucet-form");
  faucet.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const { ok, answer } = await submitForm(faucet, "/api/faucet");
    if (ok) show(faucet, true, `${answer.account} now has ${answer.balance_display}`);
    else show(faucet, false, answer.message || "failed");
  });
  const send = $("#send-form");
  send.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const { ok, answer } = await submitForm(send, "/api/send");
    const p = answer.payment;
    if (ok && p) show(send, true, `Paid ${money(p.delivered, p.destination_ledger)} to ${p.destination} in ${p.millis} ms`);
    else if (p) show(send, false, `Rejected: ${p.error}`);
    else show(send, false, answer.message || "failed");
  });
  for (const sel of document.querySelectorAll(".ledger-select")) sel.addEventListener("change", updateFormHints);
  // the send form's "to ledger" follows "from ledger" until changed by hand
  const from = send.elements.ledger;
  const to = send.elements.to_ledger;
  let toTouched = false;
  to.addEventListener("change", () => { toTouched = true; });
  from.addEventListener("change", () => { if (!toTouched) { to.value = from.value; updateFormHints(); } });
}

// ---- live updates -----------------------------------------------------------------------

function renderAll() {
  renderStats();
  renderGraph();
  renderPayments();
  renderLedgers();
  renderConnectors();
  fillSelects();
}

function applyPayment(delta) {
  const p = delta.payment;
  const i = state.payments.findIndex((x) => x.id === p.id && x.source_ledger === p.source_ledger);
  if (i >= 0) state.payments[i] = p;
  else {
    state.payments.unshift(p);
    state.payments.length = Math.min(state.payments.length, 50);
  }
  state.counts = delta.counts;
  renderStats();
  renderPayments(i >= 0 ? null : p.id);
  const key = `${p.source_ledger}/${p.id}`;
  if (!seenPayments.has(key)) {
    seenPayments.add(key);
    animatePath(p.path, p.state === "fulfilled");
  }
}

function connect() {
  const live = $("#live");
  const events = new EventSource("/events");
  events.addEventListener("open", () => { live.dataset.state = "live"; live.textContent = "live"; });
  events.addEventListener("error", () => { live.dataset.state = "down"; live.textContent = "reconnecting…"; });
  events.addEventListener("snapshot", (ev) => {
    state = JSON.parse(ev.data).state;
    for (const p of state.payments) seenPayments.add(`${p.source_ledger}/${p.id}`);
    renderAll();
    document.body.dataset.ready = "true";
  });
  events.addEventListener("ledger", (ev) => {
    if (!state) return;
    const d = JSON.parse(ev.data);
    state.ledgers[d.key] = d.ledger;
    renderGraph();
    renderLedgers();
    updateFormHints();
  });
  events.addEventListener("connector", (ev) => {
    if (!state) return;
    const d = JSON.parse(ev.data);
    const before = (state.connectors[d.name] || {}).packets || { fulfilled: 0, rejected: 0 };
    state.connectors[d.name] = d.connector;
    renderStats();
    renderGraph();
    renderConnectors();
    const after = d.connector.packets || before;
    if (after.fulfilled > before.fulfilled || after.rejected > before.rejected) {
      flashNode(`connector:${d.name}`);
    }
  });
  events.addEventListener("payments", (ev) => {
    if (!state) return;
    const d = JSON.parse(ev.data);
    state.payments = d.payments;
    state.counts = d.counts;
    renderStats();
    renderPayments();
  });
  events.addEventListener("payment", (ev) => {
    if (!state) return;
    applyPayment(JSON.parse(ev.data));
  });
}

wireForms();
connect();
