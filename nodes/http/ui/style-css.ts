/** The dashboard's style sheet (`GET /ui/style.css`). */
export const STYLE_CSS = `:root {
  --bg: #f5f6f8;
  --card: #ffffff;
  --ink: #1d2330;
  --muted: #6b7385;
  --line: #e3e6ec;
  --accent: #3b5bdb;
  --ok: #2b8a3e;
  --ok-bg: #e6f4ea;
  --warn: #b26a00;
  --warn-bg: #fff4e0;
  --bad: #c92a2a;
  --bad-bg: #fdecec;
  --idle: #5c6370;
  --idle-bg: #eef0f3;
  color-scheme: light;
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body {
  margin: 0;
  background: var(--bg);
  color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
code, .mono, td.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.bar {
  position: sticky; top: 0; z-index: 2;
  display: flex; align-items: center; gap: 24px;
  padding: 12px 24px;
  background: #161b26; color: #f1f3f7;
}
.brand { display: flex; align-items: center; gap: 10px; font-weight: 650; font-size: 17px; letter-spacing: .2px; }
.logo { width: 18px; height: 18px; border-radius: 5px; background: linear-gradient(135deg, #5c7cfa, #20c997); }
.summary { flex: 1; color: #c4cad6; }
.summary b { color: #fff; font-weight: 600; }
.pills { display: flex; gap: 8px; }
.pill { padding: 3px 10px; border-radius: 999px; font-size: 12px; font-weight: 600; background: #2a3142; color: #d5dae3; }
.pill.ok { background: #1f4d2c; color: #b9f0c8; }
.pill.warn { background: #5a3d0a; color: #ffe1a8; }
.pill.bad { background: #5c1a1a; color: #ffc9c9; }
.token { display: flex; gap: 8px; align-items: center; padding: 10px 24px; background: var(--warn-bg); border-bottom: 1px solid var(--line); }
.token input { padding: 5px 8px; border: 1px solid var(--line); border-radius: 6px; min-width: 280px; }
.token button { padding: 5px 12px; border: 0; border-radius: 6px; background: var(--accent); color: #fff; cursor: pointer; }
main { padding: 20px 24px 8px; display: grid; gap: 20px; max-width: 1500px; margin: 0 auto; }
.columns { display: grid; grid-template-columns: minmax(220px, 1fr) 3fr; gap: 20px; }
@media (max-width: 900px) { .columns { grid-template-columns: 1fr; } }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; min-width: 0; }
h2 { margin: 0 0 10px; font-size: 14px; font-weight: 650; text-transform: uppercase; letter-spacing: .6px; color: #3a4254; }
.muted { color: var(--muted); font-weight: 400; text-transform: none; letter-spacing: 0; }
.scroll { overflow: auto; max-height: 520px; }
table { width: 100%; border-collapse: collapse; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; padding: 6px 10px; border-bottom: 1px solid var(--line); position: sticky; top: 0; background: var(--card); }
td { padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; white-space: nowrap; }
tr:last-child td { border-bottom: 0; }
tr.self td:first-child::after { content: " (this node)"; color: var(--muted); font-size: 12px; }
tr.fresh td { animation: flash 1.2s ease-out; }
@keyframes flash { from { background: #e7f0ff; } to { background: transparent; } }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
.passing, .ready, .added { color: var(--ok); background: var(--ok-bg); }
.warning, .updated { color: var(--warn); background: var(--warn-bg); }
.critical, .down, .removed { color: var(--bad); background: var(--bad-bg); }
.draining, .starting, .snapshot { color: var(--idle); background: var(--idle-bg); }
.tag { display: inline-block; margin-right: 4px; padding: 0 6px; border-radius: 4px; background: var(--idle-bg); color: #3a4254; font-size: 12px; }
.services-list { list-style: none; margin: 0; padding: 0; }
.services-list li { display: flex; justify-content: space-between; gap: 8px; padding: 7px 8px; border-radius: 6px; cursor: pointer; }
.services-list li:hover { background: var(--bg); }
.services-list li.active { background: #e7ecff; }
.services-list .count { color: var(--muted); font-variant-numeric: tabular-nums; }
.filters { margin-bottom: 8px; }
.filters input { width: 100%; padding: 7px 10px; border: 1px solid var(--line); border-radius: 6px; font: inherit; }
.events { list-style: none; margin: 0; padding: 0; max-height: 300px; overflow: auto; }
.events li { display: grid; grid-template-columns: 96px 82px 1fr; gap: 10px; padding: 5px 4px; border-bottom: 1px solid var(--line); align-items: baseline; }
.events time { color: var(--muted); font-variant-numeric: tabular-nums; font-size: 12.5px; }
.empty { color: var(--muted); padding: 10px; }
.foot { padding: 6px 24px 20px; color: var(--muted); font-size: 12.5px; max-width: 1500px; margin: 0 auto; }
.foot a { color: var(--accent); }
`;
