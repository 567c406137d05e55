import t, { type Test } from 'tap';
import { type ErrorCode, RosterError } from '../../protocol/errors.js';
import {
  DEFAULT_LATENCY_BUCKETS,
  defaultProcessMetrics,
  exponentialBuckets,
  linearBuckets,
  MetricsRegistry,
  PROMETHEUS_CONTENT_TYPE,
} from '../../transport/metrics.js';

const DROPPED_HEADER =
  '# HELP roster_metrics_dropped_series_total Series dropped because a metric reached its series limit.\n' +
  '# TYPE roster_metrics_dropped_series_total counter\n';

/** The rendered text minus the always-present dropped-series header. */
function body(registry: MetricsRegistry): string {
  const text = registry.render();
  return text.startsWith(DROPPED_HEADER) ? text.slice(DROPPED_HEADER.length) : text;
}

function throwsCode(t: Test, fn: () => unknown, code: ErrorCode, what: string): void {
  try {
    fn();
    t.fail(`${what}: nothing thrown`);
  } catch (err) {
    t.ok(err instanceof RosterError && err.code === code, `${what}: throws ${code}`);
  }
}

t.test('a fresh registry renders only the dropped-series header', async (t) => {
  const r = new MetricsRegistry();
  t.equal(r.render(), DROPPED_HEADER);
  t.equal(PROMETHEUS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
});

t.test('counters', async (t) => {
  const r = new MetricsRegistry();
  const plain = r.counter('roster_requests_total', 'All requests.');
  const byCode = r.counter('roster_responses_total', 'Responses by service and code.', [
    'service',
    'code',
  ]);
  t.equal(
    body(r),
    '# HELP roster_requests_total All requests.\n' +
      '# TYPE roster_requests_total counter\n' +
      'roster_requests_total 0\n' +
      '# HELP roster_responses_total Responses by service and code.\n' +
      '# TYPE roster_responses_total counter\n',
    'an unlabelled counter renders 0; a labelled one renders no samples until used',
  );
  plain.inc();
  plain.inc(undefined, 2.5);
  plain.inc(3);
  byCode.inc({ service: 'payments', code: '200' });
  byCode.inc({ service: 'payments', code: '200' }, 4);
  byCode.inc({ service: 'users', code: '503' });
  t.equal(plain.get(), 6.5);
  t.equal(byCode.get({ service: 'payments', code: '200' }), 5);
  t.equal(
    body(r),
    '# HELP roster_requests_total All requests.\n' +
      '# TYPE roster_requests_total counter\n' +
      'roster_requests_total 6.5\n' +
      '# HELP roster_responses_total Responses by service and code.\n' +
      '# TYPE roster_responses_total counter\n' +
      'roster_responses_total{service="payments",code="200"} 5\n' +
      'roster_responses_total{service="users",code="503"} 1\n',
  );
  throwsCode(t, () => plain.inc(-1), 'ROSTER_ERR_INVALID_ARGUMENT', 'negative increment');
  throwsCode(t, () => plain.inc(Number.NaN), 'ROSTER_ERR_INVALID_ARGUMENT', 'NaN increment');

  byCode.remove({ service: 'users', code: '503' });
  t.equal(byCode.size, 1, 'remove() forgets one series');
  byCode.reset();
  t.equal(byCode.size, 0);
  plain.reset();
  t.equal(plain.get(), 0, 'reset of an unlabelled counter goes back to 0');
  t.match(r.render(), /^roster_requests_total 0$/m);
});

t.test('label keys are unambiguous', async (t) => {
  const r = new MetricsRegistry();
  const c = r.counter('roster_pairs_total', 'Pairs.', ['a', 'b']);
  c.inc({ a: 'x:1', b: '' });
  c.inc({ a: 'x', b: '1:' });
  c.inc({ a: '1:x', b: '' });
  t.equal(c.size, 3);
});

t.test('gauges', async (t) => {
  const r = new MetricsRegistry();
  const g = r.gauge('roster_pool_size', 'Pool size.', ['pool']);
  g.set({ pool: 'a' }, 3);
  g.inc({ pool: 'a' });
  g.dec({ pool: 'a' }, 2);
  g.set({ pool: 'b' }, -1.5);
  const plain = r.gauge('roster_temperature', 'A value.');
  plain.set(Number.POSITIVE_INFINITY);
  const other = r.gauge('roster_other', 'Another.');
  other.inc(5);
  other.dec();
  t.equal(g.get({ pool: 'a' }), 2);
  t.equal(
    body(r),
    '# HELP roster_pool_size Pool size.\n' +
      '# TYPE roster_pool_size gauge\n' +
      'roster_pool_size{pool="a"} 2\n' +
      'roster_pool_size{pool="b"} -1.5\n' +
      '# HELP roster_temperature A value.\n' +
      '# TYPE roster_temperature gauge\n' +
      'roster_temperature +Inf\n' +
      '# HELP roster_other Another.\n' +
      '# TYPE roster_other gauge\n' +
      'roster_other 4\n',
  );
  plain.set(Number.NaN);
  t.match(r.render(), /^roster_temperature NaN$/m);
  plain.set(Number.NEGATIVE_INFINITY);
  t.match(r.render(), /^roster_temperature -Inf$/m);
  other.dec(1.5);
  t.equal(other.get(), 2.5, 'dec(n) is short for dec(undefined, n)');
});

t.test('gauge collect callbacks run at render time', async (t) => {
  const r = new MetricsRegistry();
  let n = 1;
  r.gauge('roster_computed', 'Computed.', { collect: () => n });
  r.gauge('roster_computed_labelled', 'Computed, labelled.', {
    labelNames: ['zone'],
    collect: () => [
      [{ zone: 'a' }, n * 10],
      [{ zone: 'b"\\' }, 0.25],
      [{ zone: 'a' }, 999],
    ],
  });
  r.gauge('roster_broken', 'Throws.', {
    collect: () => {
      throw new Error('boom');
    },
  });
  const expected = (v: number) =>
    '# HELP roster_computed Computed.\n' +
    '# TYPE roster_computed gauge\n' +
    `roster_computed ${v}\n` +
    '# HELP roster_computed_labelled Computed, labelled.\n' +
    '# TYPE roster_computed_labelled gauge\n' +
    `roster_computed_labelled{zone="a"} ${v * 10}\n` +
    'roster_computed_labelled{zone="b\\"\\\\"} 0.25\n' +
    '# HELP roster_broken Throws.\n' +
    '# TYPE roster_broken gauge\n';
  t.equal(body(r), expected(1), 'duplicate label sets in one collect keep the first');
  n = 7;
  t.equal(body(r), expected(7));
});

t.test('histograms', async (t) => {
  const r = new MetricsRegistry();
  const h = r.histogram('roster_request_seconds', 'Request latency.', {
    buckets: [0.1, 0.5, 1],
    labelNames: ['route'],
  });
  h.observe({ route: '/a' }, 0.05);
  h.observe({ route: '/a' }, 0.1); // le is inclusive
  h.observe({ route: '/a' }, 0.7);
  h.observe({ route: '/a' }, 3);
  h.observe({ route: '/b' }, 0.2);
  h.observe({ route: '/b' }, Number.NaN); // ignored
  const plain = r.histogram('roster_sizes', 'Sizes.', { buckets: [10, 100] });
  plain.observe(5);
  plain.observe(undefined, 50);
  t.equal(
    body(r),
    '# HELP roster_request_seconds Request latency.\n' +
      '# TYPE roster_request_seconds histogram\n' +
      'roster_request_seconds_bucket{route="/a",le="0.1"} 2\n' +
      'roster_request_seconds_bucket{route="/a",le="0.5"} 2\n' +
      'roster_request_seconds_bucket{route="/a",le="1"} 3\n' +
      'roster_request_seconds_bucket{route="/a",le="+Inf"} 4\n' +
      'roster_request_seconds_sum{route="/a"} 3.85\n' +
      'roster_request_seconds_count{route="/a"} 4\n' +
      'roster_request_seconds_bucket{route="/b",le="0.1"} 0\n' +
      'roster_request_seconds_bucket{route="/b",le="0.5"} 1\n' +
      'roster_request_seconds_bucket{route="/b",le="1"} 1\n' +
      'roster_request_seconds_bucket{route="/b",le="+Inf"} 1\n' +
      'roster_request_seconds_sum{route="/b"} 0.2\n' +
      'roster_request_seconds_count{route="/b"} 1\n' +
      '# HELP roster_sizes Sizes.\n' +
      '# TYPE roster_sizes histogram\n' +
      'roster_sizes_bucket{le="10"} 1\n' +
      'roster_sizes_bucket{le="100"} 2\n' +
      'roster_sizes_bucket{le="+Inf"} 2\n' +
      'roster_sizes_sum 55\n' +
      'roster_sizes_count 2\n',
  );

  const timed = r.histogram('roster_timed_seconds', 'Timed.', { buckets: DEFAULT_LATENCY_BUCKETS });
  const seconds = timed.startTimer()();
  t.ok(seconds >= 0 && seconds < 1);
  t.match(r.render(), /^roster_timed_seconds_count 1$/m);

  throwsCode(
    t,
    () => r.histogram('roster_bad_buckets', 'x', { buckets: [1, 1] }),
    'ROSTER_ERR_INVALID_ARGUMENT',
    'non-increasing buckets',
  );
  throwsCode(
    t,
    () => r.histogram('roster_no_buckets', 'x', { buckets: [] }),
    'ROSTER_ERR_INVALID_ARGUMENT',
    'empty buckets',
  );
  throwsCode(
    t,
    () => r.histogram('roster_inf_buckets', 'x', { buckets: [1, Number.POSITIVE_INFINITY] }),
    'ROSTER_ERR_INVALID_ARGUMENT',
    'infinite bucket',
  );
  throwsCode(
    t,
    () => r.histogram('roster_le', 'x', { buckets: [1], labelNames: ['le'] }),
    'ROSTER_ERR_INVALID_ARGUMENT',
    'le label',
  );
  t.same(exponentialBuckets(1, 2, 4), [1, 2, 4, 8]);
  t.same(linearBuckets(0, 5, 3), [0, 5, 10]);
});

t.test('escaping of label values and help text', async (t) => {
  const r = new MetricsRegistry();
  const c = r.counter('roster_escaped_total', 'Help with \\ backslash\nand newline "quotes".', [
    'v',
  ]);
  c.inc({ v: 'a\\b"c\nd' });
  c.inc({ v: 'plain ünïcode' });
  t.equal(
    body(r),
    '# HELP roster_escaped_total Help with \\\\ backslash\\nand newline "quotes".\n' +
      '# TYPE roster_escaped_total counter\n' +
      'roster_escaped_total{v="a\\\\b\\"c\\nd"} 1\n' +
      'roster_escaped_total{v="plain ünïcode"} 1\n',
  );
});

t.test('missing labels render as empty strings', async (t) => {
  const r = new MetricsRegistry();
  const c = r.counter('roster_partial_total', 'Partial.', ['a', 'b']);
  c.inc({ a: 'x' } as { a: string; b: string });
  c.inc();
  t.equal(
    body(r),
    '# HELP roster_partial_total Partial.\n' +
      '# TYPE roster_partial_total counter\n' +
      'roster_partial_total{a="x",b=""} 1\n' +
      'roster_partial_total{a="",b=""} 1\n',
  );
});

t.test('series cardinality is bounded', async (t) => {
  const r = new MetricsRegistry({ maxSeriesPerMetric: 3 });
  const c = r.counter('roster_bounded_total', 'Bounded.', ['id']);
  for (let i = 0; i < 5; i++) c.inc({ id: String(i) });
  c.inc({ id: '0' }); // existing series still update
  c.inc({ id: '9' }); // dropped
  const own = r.gauge('roster_own_bound', 'Own bound.', { labelNames: ['id'], maxSeries: 1 });
  own.set({ id: 'a' }, 1);
  own.set({ id: 'b' }, 2);
  const h = r.histogram('roster_bounded_seconds', 'Bounded histogram.', {
    buckets: [1],
    labelNames: ['id'],
    maxSeries: 1,
  });
  h.observe({ id: 'a' }, 0.5);
  h.observe({ id: 'b' }, 0.5);
  t.equal(c.size, 3);
  t.equal(own.size, 1);
  t.equal(
    r.render(),
    DROPPED_HEADER +
      'roster_metrics_dropped_series_total{metric="roster_bounded_total"} 3\n' +
      'roster_metrics_dropped_series_total{metric="roster_own_bound"} 1\n' +
      'roster_metrics_dropped_series_total{metric="roster_bounded_seconds"} 1\n' +
      '# HELP roster_bounded_total Bounded.\n' +
      '# TYPE roster_bounded_total counter\n' +
      'roster_bounded_total{id="0"} 2\n' +
      'roster_bounded_total{id="1"} 1\n' +
      'roster_bounded_total{id="2"} 1\n' +
      '# HELP roster_own_bound Own bound.\n' +
      '# TYPE roster_own_bound gauge\n' +
      'roster_own_bound{id="a"} 1\n' +
      '# HELP roster_bounded_seconds Bounded histogram.\n' +
      '# TYPE roster_bounded_seconds histogram\n' +
      'roster_bounded_seconds_bucket{id="a",le="1"} 1\n' +
      'roster_bounded_seconds_bucket{id="a",le="+Inf"} 1\n' +
      'roster_bounded_seconds_sum{id="a"} 0.5\n' +
      'roster_bounded_seconds_count{id="a"} 1\n',
  );
  c.remove({ id: '1' });
  c.inc({ id: '9' });
  t.equal(c.get({ id: '9' }), 1, 'removing a series frees room for a new one');
  t.equal(new MetricsRegistry().counter('roster_x_total', 'x', ['id']).size, 0);
  throwsCode(
    t,
    () => new MetricsRegistry({ maxSeriesPerMetric: 0 }),
    'ROSTER_ERR_INVALID_ARGUMENT',
    'zero bound',
  );
});

t.test(
  'bound series record into the same series and follow remove, reset and the bound',
  async (t) => {
    const r = new MetricsRegistry({ maxSeriesPerMetric: 2 });
    const c = r.counter('roster_bound_total', 'Bound.', ['route', 'code']);
    const a = c.bind({ route: 'a', code: '2xx' });
    a.inc();
    a.inc(2);
    c.inc({ route: 'a', code: '2xx' });
    t.equal(c.get({ route: 'a', code: '2xx' }), 4, 'bound and unbound updates meet in one series');
    t.throws(() => a.inc(-1), { code: 'ROSTER_ERR_INVALID_ARGUMENT' });
    c.remove({ route: 'a', code: '2xx' });
    a.inc();
    t.equal(
      c.get({ route: 'a', code: '2xx' }),
      1,
      'after remove() the handle records into a new series',
    );
    c.reset();
    a.inc(5);
    t.equal(c.get({ route: 'a', code: '2xx' }), 5, 'after reset() too');

    c.inc({ route: 'b', code: '2xx' });
    const dropped = c.bind({ route: 'c', code: '2xx' });
    dropped.inc();
    t.equal(c.size, 2, 'a bound handle past the series bound creates nothing');
    t.match(r.render(), /roster_metrics_dropped_series_total\{metric="roster_bound_total"\} 1\n/);
    c.remove({ route: 'b', code: '2xx' });
    dropped.inc();
    t.equal(c.get({ route: 'c', code: '2xx' }), 1, 'and records once there is room');

    const h = r.histogram('roster_bound_seconds', 'Bound histogram.', {
      buckets: [0.1, 1],
      labelNames: ['route'],
    });
    const hb = h.bind({ route: 'a' });
    hb.observe(0.05);
    hb.observe(0.5);
    hb.observe(Number.NaN);
    h.observe({ route: 'a' }, 5);
    t.equal(
      body(r).split('# HELP roster_bound_seconds')[1],
      ' Bound histogram.\n' +
        '# TYPE roster_bound_seconds histogram\n' +
        'roster_bound_seconds_bucket{route="a",le="0.1"} 1\n' +
        'roster_bound_seconds_bucket{route="a",le="1"} 2\n' +
        'roster_bound_seconds_bucket{route="a",le="+Inf"} 3\n' +
        'roster_bound_seconds_sum{route="a"} 5.55\n' +
        'roster_bound_seconds_count{route="a"} 3\n',
    );
  },
);

t.test('name validation and duplicate registration', async (t) => {
  const r = new MetricsRegistry();
  for (const bad of [
    'requests_total',
    'roster_',
    'roster_Upper',
    'roster-dash',
    'roster_a.b',
    'xroster_a',
    '',
  ]) {
    throwsCode(t, () => r.counter(bad, 'x'), 'ROSTER_ERR_INVALID_ARGUMENT', `name ${bad}`);
  }
  for (const bad of ['1a', 'a-b', '__reserved', '']) {
    throwsCode(
      t,
      () => r.counter('roster_labels_total', 'x', [bad]),
      'ROSTER_ERR_INVALID_ARGUMENT',
      `label ${bad}`,
    );
  }
  throwsCode(
    t,
    () => r.counter('roster_dup_labels_total', 'x', ['a', 'a']),
    'ROSTER_ERR_INVALID_ARGUMENT',
    'duplicate label names',
  );

  const c = r.counter('roster_same_total', 'x', ['a']);
  t.equal(r.counter('roster_same_total', 'other help', ['a']), c, 'same type returns existing');
  t.equal(r.get('roster_same_total'), c);
  throwsCode(
    t,
    () => r.gauge('roster_same_total', 'x', ['a']),
    'ROSTER_ERR_INVALID_ARGUMENT',
    'other type',
  );
  throwsCode(
    t,
    () => r.counter('roster_same_total', 'x', ['b']),
    'ROSTER_ERR_INVALID_ARGUMENT',
    'other label names',
  );
  const h = r.histogram('roster_h_seconds', 'x', { buckets: [1, 2] });
  t.equal(r.histogram('roster_h_seconds', 'x', { buckets: [1, 2] }), h);
  throwsCode(
    t,
    () => r.histogram('roster_h_seconds', 'x', { buckets: [1, 3] }),
    'ROSTER_ERR_INVALID_ARGUMENT',
    'other buckets',
  );
  t.equal(
    r.counter('roster_metrics_dropped_series_total', 'x', ['metric']),
    r.get('roster_metrics_dropped_series_total'),
  );
});

t.test('default process metrics', async (t) => {
  const r = new MetricsRegistry();
  const handle = defaultProcessMetrics(r);
  t.teardown(() => handle.close());
  t.equal(defaultProcessMetrics(r), handle, 'idempotent per registry');
  await new Promise((resolve) => setTimeout(resolve, 50));
  const text = r.render();
  for (const name of [
    'roster_process_resident_memory_bytes',
    'roster_process_heap_used_bytes',
    'roster_process_uptime_seconds',
  ]) {
    t.match(text, new RegExp(`^# TYPE ${name} gauge$`, 'm'));
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    t.ok(m !== null && Number(m[1]) > 0, `${name} is positive`);
  }
  for (const q of ['0.5', '0.99', '1']) {
    const m = new RegExp(`^roster_event_loop_lag_seconds\\{quantile="${q}"\\} (\\S+)$`, 'm').exec(
      text,
    );
    t.ok(m !== null && Number(m[1]) >= 0 && Number(m[1]) < 10, `lag quantile ${q}`);
  }
});

t.test('the hot path is cheap', async (t) => {
  const r = new MetricsRegistry();
  const c = r.counter('roster_hot_total', 'Hot.', ['service', 'code']);
  const h = r.histogram('roster_hot_seconds', 'Hot.', {
    buckets: DEFAULT_LATENCY_BUCKETS,
    labelNames: ['service'],
  });
  const labels = { service: 'payments', code: '200' };
  const start = performance.now();
  for (let i = 0; i < 200_000; i++) {
    c.inc(labels);
    h.observe({ service: 'payments' }, 0.003);
  }
  const ms = performance.now() - start;
  t.equal(c.get(labels), 200_000);
  t.ok(ms < 2000, `400k updates took ${ms.toFixed(1)} ms`);
});
