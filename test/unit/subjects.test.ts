import t from 'tap';
import { isServiceName, Subjects } from '../../protocol/index.js';
import { expectRosterError } from '../helpers/expect-error.js';

t.test('subjects live under the prefix and protocol version', async (t) => {
  const s = new Subjects('acme.prod');
  t.equal(s.root, 'acme.prod.v1');
  t.equal(s.delta('payments'), 'acme.prod.v1.delta.payments');
  t.equal(s.register('payments'), 'acme.prod.v1.reg.payments');
  t.equal(s.registerAt('payments', 'node-1'), 'acme.prod.v1.reg.payments.node-1');
  t.equal(s.registerAnyAt('node-1'), 'acme.prod.v1.reg.*.node-1');
  t.equal(s.heartbeat, 'acme.prod.v1.hb');
  t.equal(s.pull('n2'), 'acme.prod.v1.node.n2.pull');
  t.equal(new Subjects().root, 'roster.v1');
});

t.test('service names are subject-safe tokens', async (t) => {
  for (const good of ['payments', 'a', 'svc-1', 'svc_2', '9lives']) t.ok(isServiceName(good), good);
  for (const bad of ['', 'Pay', 'a.b', 'a*', '>', '-x', 'a b', 'x'.repeat(65), 'ü'])
    t.notOk(isServiceName(bad), bad);
  const s = new Subjects();
  for (const bad of ['a.b', '*', '>', 'UP']) {
    expectRosterError(t, () => s.delta(bad), 'ROSTER_ERR_INVALID_SUBJECT');
  }
  expectRosterError(t, () => s.pull('a.b'), 'ROSTER_ERR_INVALID_SUBJECT');
  expectRosterError(t, () => new Subjects('a..b'), 'ROSTER_ERR_INVALID_SUBJECT');
  expectRosterError(t, () => new Subjects('a.*'), 'ROSTER_ERR_INVALID_SUBJECT');
});
