/**
 * nodes/leases.ts: the owner's lease table. Pure logic, driven by explicit `now` values.
 */

import t from 'tap';
import { LeaseTable } from '../../nodes/leases.js';

const HASH = 'a'.repeat(64);

t.test('grant: a lease is due one TTL from now; replacing it resets the deadline', async (t) => {
  const leases = new LeaseTable();
  const lease = leases.grant('s1', 1_000, HASH, 10_000);
  t.equal(lease.deadline, 11_000, 'deadline = now + ttl');
  t.equal(lease.sessionId, 's1');
  t.equal(lease.secretHash, HASH);
  t.equal(leases.size, 1);
  t.ok(leases.has('s1'));
  t.equal(leases.get('s1'), lease, 'get returns the lease');
  t.equal(leases.get('nope'), undefined);

  const again = leases.grant('s1', 2_000, HASH, 10_500);
  t.equal(leases.size, 1, 'granting again replaces');
  t.equal(again.deadline, 12_500, 'with the new ttl');
  t.equal(leases.get('s1'), again);
  t.same(
    [...leases.values()].map((l) => l.sessionId),
    ['s1'],
    'values() lists leases',
  );
});

t.test('renew pushes the deadline to one TTL from now, never earlier', async (t) => {
  const leases = new LeaseTable();
  const lease = leases.grant('s1', 1_000, HASH, 0);
  leases.renew(lease, 600);
  t.equal(lease.deadline, 1_600, 'renewed at 600: due at 1600');
  // A renewal handled with an older clock reading (out-of-order) does not shorten the lease.
  leases.renew(lease, 100);
  t.equal(lease.deadline, 1_600, 'an earlier now does not shorten it');
});

t.test('takeExpired removes exactly the leases at or past their deadline', async (t) => {
  const leases = new LeaseTable();
  leases.grant('short', 1_000, HASH, 0);
  leases.grant('long', 5_000, HASH, 0);
  t.same(leases.takeExpired(999), [], 'nothing due before the deadline');
  const expired = leases.takeExpired(1_000);
  t.same(
    expired.map((l) => l.sessionId),
    ['short'],
    'due exactly at the deadline',
  );
  t.notOk(leases.has('short'), 'an expired lease is removed');
  t.ok(leases.has('long'), 'the other stays');
  t.same(leases.takeExpired(1_000), [], 'taken once only');
  t.same(
    leases.takeExpired(10_000).map((l) => l.sessionId),
    ['long'],
  );
  t.equal(leases.size, 0);
});

t.test('release forgets a lease', async (t) => {
  const leases = new LeaseTable();
  leases.grant('s1', 1_000, HASH, 0);
  t.equal(leases.release('s1'), true);
  t.equal(leases.release('s1'), false, 'twice: nothing to release');
  t.same(leases.takeExpired(10_000), [], 'a released lease never expires');
});

t.test('pause stops every expiry; resume gives each lease a full TTL', async (t) => {
  const leases = new LeaseTable();
  leases.grant('a', 1_000, HASH, 0);
  leases.grant('b', 3_000, HASH, 0);
  leases.pause();
  t.ok(leases.isPaused, 'paused');
  t.same(leases.takeExpired(100_000), [], 'no expiry while paused, however late');
  t.equal(leases.size, 2, 'all leases kept');

  // Renewals may still arrive while paused (e.g. from a client on the same side of a partition).
  leases.renew(leases.get('a')!, 50_000);
  t.equal(leases.get('a')!.deadline, 51_000);

  leases.resume(100_000);
  t.notOk(leases.isPaused, 'resumed');
  t.equal(leases.get('a')!.deadline, 101_000, 'a: one full TTL from the resume');
  t.equal(leases.get('b')!.deadline, 103_000, 'b: one full TTL from the resume');
  t.same(leases.takeExpired(100_999), [], 'nothing expires inside that TTL');
  t.same(
    leases.takeExpired(101_000).map((l) => l.sessionId),
    ['a'],
    'a expires a full TTL after the resume',
  );
  t.same(
    leases.takeExpired(103_000).map((l) => l.sessionId),
    ['b'],
  );
});

t.test('graceAll gives every lease at least a full TTL, never shortening one', async (t) => {
  const leases = new LeaseTable();
  leases.grant('overdue', 1_000, HASH, 0); // due at 1000
  leases.grant('far', 60_000, HASH, 0); // due at 60000
  leases.grant('fresh', 1_000, HASH, 9_000); // renewed with a later clock reading: due at 10000
  leases.graceAll(5_000); // a stall of ours: 'overdue' was never expired meanwhile
  t.equal(leases.get('overdue')!.deadline, 6_000, 'overdue lease: a full TTL from now');
  t.equal(leases.get('far')!.deadline, 65_000, 'a long lease: its own full TTL from now');
  t.equal(leases.get('fresh')!.deadline, 10_000, 'a deadline later than now + TTL is kept');
  t.same(leases.takeExpired(5_999), [], 'nothing expires inside the grace');
  t.same(
    leases.takeExpired(6_000).map((l) => l.sessionId),
    ['overdue'],
  );
  t.notOk(leases.isPaused, 'graceAll does not pause');
});
