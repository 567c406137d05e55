/**
 * The dashboard page (`GET /ui/`). Static: the data comes from the API (`/v1/nodes`, polled
 * every second) and the WebSocket watch stream (`/v1/watch`), through ui/app-js.ts.
 * Kept as a string so the built package (dist/) needs no asset files.
 */
export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Roster dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="style.css">
<script src="app.js" defer></script>
</head>
<body>
<header class="bar">
  <div class="brand"><span class="logo" aria-hidden="true"></span>Roster</div>
  <div class="summary" id="summary" aria-live="polite"></div>
  <div class="pills">
    <span class="pill" id="cluster-state" title="Digests of the live, ready nodes">cluster …</span>
    <span class="pill" id="stream-state" title="WebSocket watch stream">connecting…</span>
  </div>
</header>
<form class="token" id="token-form" hidden>
  <label for="token-input">This node needs an API token:</label>
  <input id="token-input" type="password" autocomplete="off" placeholder="bearer token">
  <button type="submit">Use token</button>
</form>
<main>
  <section class="card" aria-labelledby="nodes-title">
    <h2 id="nodes-title">Registry nodes <span class="muted" id="nodes-note"></span></h2>
    <div class="scroll">
      <table id="nodes">
        <thead><tr>
          <th>Node</th><th>Incarnation</th><th>State</th><th>Digest</th>
          <th class="num">Sessions</th><th class="num">Instances</th><th class="num">Seq</th>
          <th>Vector</th><th class="num">Last seen</th>
        </tr></thead>
        <tbody></tbody>
      </table>
    </div>
  </section>
  <div class="columns">
    <section class="card services" aria-labelledby="services-title">
      <h2 id="services-title">Services</h2>
      <ul id="services" class="services-list"></ul>
    </section>
    <section class="card instances" aria-labelledby="instances-title">
      <h2 id="instances-title">Instances <span class="muted" id="instances-note"></span></h2>
      <div class="filters">
        <input id="filter" type="search" placeholder="Filter by service, id, host, tag or owner" aria-label="Filter instances">
      </div>
      <div class="scroll">
        <table id="instances">
          <thead><tr>
            <th>Service</th><th>Instance</th><th>Address</th><th>Status</th>
            <th>Owner node</th><th>Tags</th><th class="num">Age</th>
          </tr></thead>
          <tbody></tbody>
        </table>
      </div>
    </section>
  </div>
  <section class="card" aria-labelledby="events-title">
    <h2 id="events-title">Live events <span class="muted">(newest first)</span></h2>
    <ol id="events" class="events"></ol>
  </section>
</main>
<footer class="foot">Served by node <span id="served-by">…</span> · <a href="../openapi.json">OpenAPI</a> · <a href="../metrics">metrics</a></footer>
</body>
</html>
`;
