/**
 * The dashboard script (`GET /ui/app.js`): plain browser JavaScript, no build step. Nodes
 * come from `../v1/nodes` (polled every second), instances and the event feed from the
 * `../v1/watch` WebSocket stream; the token, when one is needed, from `?token=` or a form,
 * kept in sessionStorage for the tab. Kept as a string so dist/ needs no asset files.
 */
export const APP_JS = `// Roster dashboard: nodes polled from ../v1/nodes every second, instances and the event feed
// from the ../v1/watch WebSocket stream (a snapshot, then every change the node applies).
(function () {
  'use strict';

  var MAX_ROWS = 500;
  var MAX_EVENTS = 150;
  var TOKEN_KEY = 'roster.token';

  var state = {
    instances: new Map(),
    fresh: new Map(),
    nodes: null,
    events: [],
    service: '',
    filter: '',
    stream: 'connecting',
    authNeeded: false,
  };

  var token = takeToken();
  var socket = null;
  var reconnectTimer = null;
  var retryMs = 500;
  var renderQueued = false;

  function takeToken() {
    var params = new URLSearchParams(location.search);
    var given = params.get('token');
    if (given) {
      try { sessionStorage.setItem(TOKEN_KEY, given); } catch (e) { /* storage off */ }
      params.delete('token');
      var rest = params.toString();
      history.replaceState(null, '', location.pathname + (rest ? '?' + rest : '') + location.hash);
      return given;
    }
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'text') node.textContent = String(v);
        else if (k === 'className') node.className = v;
        else node.setAttribute(k, String(v));
      });
    }
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }

  function keyOf(inst) { return inst.service + '/' + inst.id; }

  function ago(ms) {
    if (!(ms >= 0)) return '';
    var s = Math.floor(ms / 1000);
    if (s < 60) return s + 's';
    var m = Math.floor(s / 60);
    if (m < 60) return m + 'm';
    var h = Math.floor(m / 60);
    if (h < 48) return h + 'h';
    return Math.floor(h / 24) + 'd';
  }

  function clock(t) {
    var d = new Date(t);
    function two(n) { return (n < 10 ? '0' : '') + n; }
    var ms = d.getMilliseconds();
    return two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds()) + '.' +
      (ms < 10 ? '00' : ms < 100 ? '0' : '') + ms;
  }

  function authHeaders() {
    return token ? { authorization: 'Bearer ' + token } : {};
  }

  function needToken() {
    state.authNeeded = true;
    $('token-form').hidden = false;
    queueRender();
  }

  // --- the cluster view, polled ---

  function pollNodes() {
    var started = Date.now();
    fetch(new URL('../v1/nodes', location.href), { headers: authHeaders(), cache: 'no-store' })
      .then(function (res) {
        if (res.status === 401) { needToken(); return null; }
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json();
      })
      .then(function (view) {
        if (view) { state.nodes = view; state.nodesError = null; queueRender(); }
      })
      .catch(function (err) { state.nodesError = String(err && err.message || err); queueRender(); })
      .finally(function () { setTimeout(pollNodes, Math.max(100, 1000 - (Date.now() - started))); });
  }

  // --- the watch stream ---

  function connect() {
    if (reconnectTimer !== null) { clearTimeout(reconnectTimer); reconnectTimer = null; }
    if (socket) { var old = socket; socket = null; old.close(); }
    var url = new URL('../v1/watch', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (token) url.searchParams.set('token', token);
    var ws = new WebSocket(url);
    socket = ws;
    state.stream = 'connecting';
    queueRender();
    ws.onopen = function () { retryMs = 500; };
    ws.onmessage = function (msg) {
      if (socket !== ws) return; // a replaced stream: its snapshot is not ours any more
      var event;
      try { event = JSON.parse(msg.data); } catch (e) { return; }
      apply(event);
    };
    ws.onclose = function (ev) {
      if (socket !== ws) return;
      socket = null;
      state.stream = ev.code === 1013 ? 'lagging' : 'offline';
      queueRender();
      reconnectTimer = setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 5000);
    };
  }

  function apply(event) {
    var now = Date.now();
    if (event.type === 'snapshot') {
      state.instances = new Map();
      event.instances.forEach(function (inst) { state.instances.set(keyOf(inst), inst); });
      state.stream = 'live';
      pushEvent({ type: 'snapshot', at: now, text: event.instances.length + ' instances' });
    } else if (event.type === 'added' || event.type === 'updated') {
      var key = keyOf(event.instance);
      state.instances.set(key, event.instance);
      state.fresh.set(key, now);
      pushEvent({
        type: event.type, at: now, key: key,
        text: describe(event.instance) + ' · ' + event.instance.status + ' · owner ' + event.instance.ownerNode,
      });
    } else if (event.type === 'removed') {
      state.instances.delete(keyOf(event.instance));
      pushEvent({
        type: 'removed', at: now, key: keyOf(event.instance),
        text: describe(event.instance) + (event.reason ? ' · ' + event.reason : ''),
      });
    } else {
      return;
    }
    queueRender();
  }

  function describe(inst) {
    return inst.service + '/' + inst.id + ' at ' + address(inst);
  }

  function address(inst) {
    var host = inst.host.indexOf(':') >= 0 ? '[' + inst.host + ']' : inst.host;
    return (inst.scheme ? inst.scheme + '://' : '') + host + ':' + inst.port;
  }

  function pushEvent(e) {
    state.events.unshift(e);
    if (state.events.length > MAX_EVENTS) state.events.length = MAX_EVENTS;
  }

  // --- rendering ---

  function queueRender() {
    if (renderQueued) return;
    renderQueued = true;
    setTimeout(function () { renderQueued = false; render(); }, 0);
  }

  function replaceRows(tbody, rows, empty, columns) {
    var body = document.createDocumentFragment();
    if (rows.length === 0) {
      body.appendChild(el('tr', null, [el('td', { className: 'empty', colspan: columns, text: empty })]));
    }
    rows.forEach(function (r) { body.appendChild(r); });
    tbody.replaceChildren(body);
  }

  function render() {
    renderSummary();
    renderNodes();
    renderServices();
    renderInstances();
    renderEvents();
  }

  function renderSummary() {
    var services = new Set();
    state.instances.forEach(function (i) { services.add(i.service); });
    var nodes = state.nodes ? state.nodes.nodes.length : 0;
    var summary = $('summary');
    summary.replaceChildren(
      el('b', { text: String(nodes) }), ' nodes · ',
      el('b', { text: String(services.size) }), ' services · ',
      el('b', { text: String(state.instances.size) }), ' instances'
    );
    var stream = $('stream-state');
    var labels = { live: 'live', connecting: 'connecting…', offline: 'reconnecting…', lagging: 'catching up…' };
    stream.textContent = labels[state.stream] || state.stream;
    stream.setAttribute('data-state', state.stream);
    stream.className = 'pill ' + (state.stream === 'live' ? 'ok' : state.stream === 'offline' ? 'bad' : 'warn');
    var cluster = $('cluster-state');
    if (!state.nodes) {
      cluster.textContent = state.nodesError ? 'cluster unknown' : 'cluster …';
      cluster.className = 'pill' + (state.nodesError ? ' bad' : '');
      cluster.setAttribute('data-state', 'unknown');
    } else if (state.nodes.digests <= 1) {
      cluster.textContent = 'converged';
      cluster.className = 'pill ok';
      cluster.setAttribute('data-state', 'converged');
    } else {
      cluster.textContent = state.nodes.digests + ' digests: converging';
      cluster.className = 'pill warn';
      cluster.setAttribute('data-state', 'converging');
    }
    $('served-by').textContent = state.nodes ? state.nodes.node : '…';
  }

  function renderNodes() {
    var tbody = $('nodes').tBodies[0];
    var view = state.nodes;
    $('nodes-note').textContent = view
      ? (view.source === 'scatter' ? '(each node answered itself)' : '(from the peer table)')
      : (state.nodesError ? '(unavailable: ' + state.nodesError + ')' : '');
    if (!view) { replaceRows(tbody, [], state.authNeeded ? 'token needed' : 'loading…', 9); return; }
    var rows = view.nodes.map(function (n) {
      var st = !n.alive ? 'down' : n.ready ? 'ready' : 'starting';
      var vector = n.vector.map(function (v) { return v[0] + ':' + v[2]; }).join(' ');
      return el('tr', { 'data-node': n.node, className: n.self ? 'self' : '' }, [
        el('td', { className: 'mono', text: n.node }),
        el('td', { className: 'mono', text: String(n.inc), title: new Date(n.startedAt || n.inc).toISOString() }),
        el('td', null, [el('span', { className: 'badge ' + st, text: st })]),
        el('td', { className: 'mono', text: n.digest.slice(0, 12), title: n.digest }),
        el('td', { className: 'num', text: String(n.sessions) }),
        el('td', { className: 'num', text: String(n.instances) }),
        el('td', { className: 'num', text: String(n.seq) }),
        el('td', { className: 'mono', text: vector, title: vector }),
        el('td', { className: 'num', text: n.self ? '—' : ago(n.lastSeenMs) }),
      ]);
    });
    replaceRows(tbody, rows, 'no nodes', 9);
  }

  function renderServices() {
    var counts = new Map();
    state.instances.forEach(function (i) {
      var c = counts.get(i.service) || { total: 0, passing: 0 };
      c.total++;
      if (i.status === 'passing') c.passing++;
      counts.set(i.service, c);
    });
    var names = Array.from(counts.keys()).sort();
    var list = $('services');
    var items = [el('li', {
      className: state.service === '' ? 'active' : '', 'data-service': '',
    }, [el('span', { text: 'all services' }), el('span', { className: 'count', text: String(state.instances.size) })])];
    names.forEach(function (name) {
      var c = counts.get(name);
      items.push(el('li', { className: state.service === name ? 'active' : '', 'data-service': name }, [
        el('span', { className: 'mono', text: name }),
        el('span', { className: 'count', text: c.passing + '/' + c.total + ' passing' }),
      ]));
    });
    if (state.service && !counts.has(state.service)) state.service = '';
    list.replaceChildren.apply(list, items);
  }

  function matches(inst, needle) {
    if (!needle) return true;
    var hay = [inst.service, inst.id, inst.host, String(inst.port), inst.ownerNode, inst.status]
      .concat(inst.tags || []).join(' ').toLowerCase();
    return hay.indexOf(needle) >= 0;
  }

  function renderInstances() {
    var now = Date.now();
    var needle = state.filter.trim().toLowerCase();
    var all = Array.from(state.instances.values()).filter(function (i) {
      return (!state.service || i.service === state.service) && matches(i, needle);
    });
    all.sort(function (a, b) {
      return a.service < b.service ? -1 : a.service > b.service ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    });
    var shown = all.slice(0, MAX_ROWS);
    $('instances-note').textContent = all.length > MAX_ROWS
      ? '(showing ' + MAX_ROWS + ' of ' + all.length + ': filter to narrow)'
      : '(' + all.length + ')';
    state.fresh.forEach(function (t, k) { if (now - t > 1500) state.fresh.delete(k); });
    var rows = shown.map(function (i) {
      var key = keyOf(i);
      return el('tr', {
        'data-instance': key, 'data-status': i.status, className: state.fresh.has(key) ? 'fresh' : '',
      }, [
        el('td', { className: 'mono', text: i.service }),
        el('td', { className: 'mono', text: i.id }),
        el('td', { className: 'mono', text: address(i) }),
        el('td', null, [el('span', { className: 'badge ' + i.status, text: i.status })]),
        el('td', { className: 'mono', text: i.ownerNode }),
        el('td', null, (i.tags || []).slice(0, 6).map(function (t) { return el('span', { className: 'tag', text: t }); })),
        el('td', { className: 'num', text: ago(now - i.registeredAt), title: new Date(i.registeredAt).toISOString() }),
      ]);
    });
    replaceRows($('instances').tBodies[0], rows,
      state.stream === 'live' ? 'no instances' : 'waiting for the watch stream…', 7);
  }

  function renderEvents() {
    var items = state.events.map(function (e) {
      return el('li', { 'data-event-type': e.type, 'data-key': e.key || '' }, [
        el('time', { text: clock(e.at) }),
        el('span', null, [el('span', { className: 'badge ' + e.type, text: e.type })]),
        el('span', { className: 'mono', text: e.text }),
      ]);
    });
    if (items.length === 0) items.push(el('li', { className: 'empty', text: 'no events yet' }));
    var list = $('events');
    list.replaceChildren.apply(list, items);
  }

  // --- wiring ---

  document.addEventListener('DOMContentLoaded', function () {
    $('services').addEventListener('click', function (ev) {
      var li = ev.target.closest('li[data-service]');
      if (!li) return;
      state.service = li.getAttribute('data-service') || '';
      queueRender();
    });
    $('filter').addEventListener('input', function (ev) {
      state.filter = ev.target.value;
      queueRender();
    });
    $('token-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      token = $('token-input').value.trim();
      try { sessionStorage.setItem(TOKEN_KEY, token); } catch (e) { /* storage off */ }
      state.authNeeded = false;
      $('token-form').hidden = true;
      connect(); // a fresh stream (and snapshot) with the token
    });
    setInterval(queueRender, 1000); // ages
    render();
    connect();
    pollNodes();
  });
})();
`;
