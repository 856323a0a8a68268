/**
 * The status page: plain HTML, CSS and JS as strings (tsc copies no .html;
 * these ship inside dist/ with the code that serves them). The script fills
 * the page from `/status.json` and follows `/events`; it builds every node
 * with textContent, never innerHTML, so record values are always shown as
 * text, whatever they contain.
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>beacon lbsync status</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <h1>beacon <span class="dim">lbsync</span></h1>
  <span id="live" class="pill unknown" role="status">connecting…</span>
</header>
<section id="outputs" aria-label="Load balancers"></section>
<details id="errors-box">
  <summary>Recent errors <span id="error-count" class="count">0</span></summary>
  <ol id="errors"></ol>
</details>
<main id="services" aria-label="Services"><p class="dim">Loading…</p></main>
<footer class="dim">Read-only. Data: <a href="/status.json">/status.json</a> · live via <code>/events</code> · <span id="generated"></span></footer>
</body>
</html>
`;

export const PAGE_CSS = `:root {
  --bg: #f6f7f9; --fg: #1c2430; --dim: #667085; --card: #fff; --line: #e3e6eb;
  --ok: #177245; --ok-bg: #e3f4ea; --bad: #b42318; --bad-bg: #fde8e6; --unk: #8a6d00; --unk-bg: #fdf5d7; --info-bg: #e8eefc;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 15px;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #11151b; --fg: #e6e9ee; --dim: #98a2b3; --card: #1a2029; --line: #2a313c;
    --ok: #6fdc9c; --ok-bg: #163524; --bad: #ff8a80; --bad-bg: #3d1a17; --unk: #f5d76e; --unk-bg: #3a3214; --info-bg: #1f2a44; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 12px; background: var(--bg); color: var(--fg); line-height: 1.4; }
header { display: flex; align-items: center; justify-content: space-between; gap: 8px; }
h1 { font-size: 1.3rem; margin: 4px 0 10px; }
h2 { font-size: 1.1rem; margin: 0; overflow-wrap: anywhere; }
.dim { color: var(--dim); }
a { color: inherit; }
code { font-size: .9em; }
.pill { display: inline-block; border-radius: 999px; padding: 1px 9px; font-size: .8rem; font-weight: 600; white-space: nowrap; }
.passing, .ok, .yes { background: var(--ok-bg); color: var(--ok); }
.failing, .bad, .no { background: var(--bad-bg); color: var(--bad); }
.unknown, .warn { background: var(--unk-bg); color: var(--unk); }
.info { background: var(--info-bg); }
#outputs { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 10px; margin-bottom: 10px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 10px 12px; }
.card h3 { margin: 0 0 4px; font-size: .95rem; }
.card p { margin: 2px 0; overflow-wrap: anywhere; }
pre.msg { white-space: pre-wrap; overflow-wrap: anywhere; margin: 6px 0 0; padding: 6px 8px; border-radius: 6px; background: var(--bad-bg); color: var(--bad); font-size: .85rem; }
details#errors-box { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 8px 12px; margin-bottom: 10px; }
summary { cursor: pointer; font-weight: 600; }
.count { display: inline-block; min-width: 1.6em; text-align: center; border-radius: 999px; background: var(--line); font-size: .8rem; }
#errors { margin: 6px 0 0; padding-left: 1.2em; max-height: 40vh; overflow: auto; }
#errors li { margin: 3px 0; overflow-wrap: anywhere; }
#errors time { color: var(--dim); font-size: .85em; margin-right: 6px; }
.service { margin-bottom: 10px; }
.service > .head { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 10px; margin-bottom: 6px; }
.service > .head .when { margin-left: auto; font-size: .85rem; }
.routes { display: flex; flex-wrap: wrap; gap: 6px; margin-bottom: 6px; font-size: .85rem; }
table { width: 100%; border-collapse: collapse; font-size: .9rem; }
th, td { text-align: left; padding: 5px 6px; border-top: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--dim); font-size: .8rem; border-top: 0; }
td.reason { overflow-wrap: anywhere; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
/* Phones: each endpoint becomes a small block instead of a wide row. */
@media (max-width: 640px) {
  thead { display: none; }
  table, tbody, tr, td { display: block; width: 100%; }
  tr { border-top: 1px solid var(--line); padding: 6px 0; }
  td { border: 0; padding: 1px 0; }
  td.num { text-align: left; }
  td[data-label]::before { content: attr(data-label) ": "; color: var(--dim); font-size: .8rem; }
}
footer { margin-top: 16px; font-size: .8rem; }
`;

export const PAGE_JS = `'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  let last = null;

  /** An element with a class and text: the only way text reaches the page (as textContent, never parsed as markup). */
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function pill(text, cls) { return el('span', 'pill ' + cls, text); }

  function age(iso) {
    if (!iso) return '-';
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + 's ago';
    if (s < 3600) return Math.round(s / 60) + 'm ago';
    if (s < 86400) return Math.round(s / 3600) + 'h ago';
    return Math.round(s / 86400) + 'd ago';
  }
  function timeEl(iso) {
    const t = el('time', 'age', age(iso));
    if (iso) { t.dateTime = iso; t.title = new Date(iso).toLocaleString(); }
    return t;
  }
  function yesNo(v) { return v === null || v === undefined ? pill('n/a', 'info') : v ? pill('yes', 'yes') : pill('no', 'no'); }

  function outputsCards(doc) {
    const out = [];
    const etcd = el('div', 'card');
    etcd.append(el('h3', '', 'etcd'));
    const p = el('p');
    p.append(doc.etcd.connected ? pill('watching', 'ok') : pill('reconnecting', 'bad'), ' revision ', el('b', '', doc.revision));
    etcd.append(p);
    if (doc.etcd.lastResync) {
      const r = el('p', 'dim');
      r.append('listed ' + doc.etcd.lastResync.records + ' records (' + doc.etcd.lastResync.reason + ') ', timeEl(doc.etcd.lastResync.at));
      etcd.append(r);
    }
    etcd.append(el('p', 'dim', 'health checks ' + (doc.healthChecks ? 'on' : 'off')));
    out.push(etcd);
    if (doc.nginx) {
      const c = el('div', 'card');
      c.id = 'nginx';
      c.append(el('h3', '', 'nginx: last reload'));
      const r = doc.nginx.lastReload;
      if (!r) c.append(el('p', 'dim', 'nothing applied yet'));
      else {
        const line = el('p');
        line.append(r.ok ? pill('ok', 'ok') : pill('failed', 'bad'), ' ', timeEl(r.at));
        c.append(line, el('p', '', r.detail));
        if (r.message) c.append(el('pre', 'msg', r.message));
      }
      for (const q of doc.nginx.quarantined || []) {
        const line = el('p', 'quarantined');
        line.dataset.service = q.service;
        line.append(pill('quarantined', 'bad'), ' ', el('b', '', q.service), ' since ', timeEl(q.since));
        c.append(line, el('pre', 'msg', q.reason));
      }
      if (doc.nginx.dynamicVersion !== undefined) c.append(el('p', 'dim', 'dynamic mode: nginx confirmed endpoint-set version ' + doc.nginx.dynamicVersion));
      out.push(c);
    }
    if (doc.elbv2) {
      const c = el('div', 'card');
      c.id = 'elbv2';
      c.append(el('h3', '', 'ELBv2: last pass'));
      const role = el('p');
      role.append(doc.elbv2.leader === null ? pill('election pending', 'warn') : doc.elbv2.leader ? pill('writer', 'ok') : pill('standby', 'info'),
        ' ' + doc.elbv2.groups.length + ' target group' + (doc.elbv2.groups.length === 1 ? '' : 's'));
      c.append(role);
      const pass = doc.elbv2.lastPass;
      if (!pass) c.append(el('p', 'dim', 'no pass yet'));
      else {
        const line = el('p');
        line.append(pass.failed ? pill(pass.failed + ' failed', 'bad') : pill('ok', 'ok'), ' ', timeEl(pass.at));
        c.append(line, el('p', '', 'registered ' + pass.registered + ', deregistered ' + pass.deregistered +
          (pass.held ? ', held ' + pass.held : '') + '; ' + pass.calls + ' calls in ' + pass.durationMs + ' ms (' + pass.reason + ')'));
      }
      out.push(c);
    }
    return out;
  }

  function endpointRow(e, doc) {
    const tr = el('tr');
    tr.dataset.instance = e.instance;
    tr.dataset.health = e.health;
    const cell = (label, child, cls) => {
      const td = el('td', cls || '');
      td.dataset.label = label;
      if (child instanceof Node) td.append(child); else td.textContent = child === undefined || child === null ? '' : String(child);
      tr.append(td);
      return td;
    };
    cell('instance', e.instance);
    cell('address', e.host + ':' + e.port);
    const h = cell('health', pill(e.health, e.health));
    if (e.since) { h.append(' '); h.append(el('span', 'dim', age(e.since))); }
    cell('last check', e.reason || '', 'reason');
    cell('latency', e.latencyMs === undefined ? '' : e.latencyMs + ' ms', 'num');
    cell('node', e.node || '');
    cell('container', e.container || '');
    cell('in pool', yesNo(e.member));
    if (doc.nginx) cell('in nginx', yesNo(e.inNginx));
    if (doc.elbv2) cell('in ELBv2', yesNo(e.inElbv2));
    return tr;
  }

  function serviceCard(s, doc) {
    const card = el('section', 'card service');
    card.dataset.service = s.service;
    const head = el('div', 'head');
    head.append(el('h2', '', s.service));
    head.append(pill(s.counts.passing + ' passing', s.counts.passing ? 'passing' : 'info'));
    if (s.counts.failing) head.append(pill(s.counts.failing + ' failing', 'failing'));
    if (s.counts.unknown) head.append(pill(s.counts.unknown + ' unknown', 'unknown'));
    if (s.failOpen) head.append(pill('fail-open', 'bad'));
    const when = el('span', 'when dim', 'changed ');
    when.append(timeEl(s.lastChange));
    head.append(when);
    card.append(head);
    const routes = el('div', 'routes');
    routes.append(pill(s.members + ' in pool', s.members ? 'ok' : 'bad'));
    if (s.nginxServers !== null) routes.append(pill('nginx: ' + s.nginxServers + ' server' + (s.nginxServers === 1 ? '' : 's'), s.nginxServers ? 'ok' : 'bad'));
    if (s.elbv2) routes.append(pill('ELBv2: ' + (s.elbv2.targets === null ? '?' : s.elbv2.targets) + ' targets', s.elbv2.targets ? 'ok' : 'warn'));
    card.append(routes);
    if (s.endpoints.length === 0) { card.append(el('p', 'dim', 'no endpoints')); return card; }
    const table = el('table');
    const head2 = el('tr');
    for (const h of ['instance', 'address', 'health', 'last check', 'latency', 'node', 'container', 'in pool'].concat(doc.nginx ? ['in nginx'] : [], doc.elbv2 ? ['in ELBv2'] : [])) head2.append(el('th', '', h));
    const thead = el('thead');
    thead.append(head2);
    const tbody = el('tbody');
    for (const e of s.endpoints) tbody.append(endpointRow(e, doc));
    table.append(thead, tbody);
    card.append(table);
    return card;
  }

  function render(doc) {
    last = doc;
    $('outputs').replaceChildren(...outputsCards(doc));
    const errors = $('errors');
    errors.replaceChildren(...doc.errors.map((e) => {
      const li = el('li');
      li.append(timeEl(e.at), pill(e.source, e.level === 'error' ? 'bad' : 'warn'), ' ', el('span', '', e.message + (e.repeats ? ' (×' + e.repeats + ')' : '')));
      return li;
    }));
    $('error-count').textContent = String(doc.errors.length);
    const services = doc.services.map((s) => serviceCard(s, doc));
    $('services').replaceChildren(...(services.length ? services : [el('p', 'dim', 'No services under the prefix yet.')]));
    $('generated').textContent = 'updated ' + new Date(doc.generatedAt).toLocaleTimeString();
  }

  function setLive(text, cls) { const l = $('live'); l.textContent = text; l.className = 'pill ' + cls; }

  // Ages drift as time passes: refresh them without waiting for a push.
  setInterval(() => {
    for (const t of document.querySelectorAll('time.age')) if (t.dateTime) t.textContent = age(t.dateTime);
  }, 1000);

  function poll() {
    fetch('/status.json', { cache: 'no-store' }).then((r) => r.json()).then((doc) => { render(doc); setLive('polling', 'warn'); }, () => setLive('offline', 'bad'));
  }

  if (typeof EventSource === 'function') {
    const source = new EventSource('/events');
    source.addEventListener('status', (ev) => { render(JSON.parse(ev.data)); setLive('live', 'ok'); });
    source.onerror = () => setLive('reconnecting…', 'bad');
  } else {
    poll();
    setInterval(poll, 2000);
  }
})();
`;
