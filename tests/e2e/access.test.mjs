// Per-app access rules in real Envoy: path bypass, IP block/bypass (Envoy's
// downstream peer is 127.0.0.1 here), trusted proxies, injected headers and
// basic auth, users.allow.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { echoed, loginVia, startStack } from './lib/stack.mjs';

const SPOOF = { 'Remote-User': 'root', 'Remote-Groups': 'admins', 'Remote-Email': 'root@evil.test' };

function noIdentity(headers) {
  return Object.keys(headers).filter((name) => name.startsWith('remote-'));
}

describe('access rules', () => {
  let s;
  before(async () => {
    s = await startStack({ name: 'access-rules' }, {
      customize: (c) => {
        Object.assign(c.apps, {
          public: { path: { allow: '^/public' } },
          docs: { path: { block: '^/edit' } },
          vault: { ip: { block: '127.0.0.0/8, ::1' } },
          status: { ip: { bypass: '127.0.0.1, ::1' } },
          internal: { ip: { bypass: '10.9.9.9' } },
          legacy: {
            response: {
              headers: ['X-Tenant=acme', 'X-Note=a,b'],
              basicauth: { username: 'svc', password: 's3cret' },
            },
          },
          team: { users: { allow: 'alice' } },
        });
        return c;
      },
    });
  });
  after(async () => {
    await s?.stop();
  });

  test('a path allowed by path.allow reaches the app without login and without identity headers', async () => {
    const r = await s.api().get(s.url('public', '/public/page?x=1'), { headers: SPOOF });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).path, '/public/page?x=1');
    assert.deepEqual(noIdentity(echoed(r)), [], 'spoofed identity headers are removed on public paths too');

    const closed = await s.api().get(s.url('public', '/private'));
    assert.equal(closed.status, 401);
    const escape = await s.api().get(s.url('public', '/public/%2e%2e/private'));
    assert.equal(escape.status, 401, 'an encoded dot-dot does not escape the public prefix');
    const browser = await s.browser(null, { followRedirects: false }).get(s.url('public', '/private'));
    assert.equal(browser.status, 302, 'a browser is sent to log in');
    assert.equal(s.upstream.requests.filter((q) => q.host.startsWith('public.') && q.path !== '/public/page?x=1').length, 0, 'only the public path reached the app');
  });

  test('path.block: only matching paths need a login', async () => {
    const read = await s.api().get(s.url('docs', '/read/intro'), { headers: SPOOF });
    assert.equal(read.status, 200);
    assert.equal(JSON.parse(read.body).path, '/read/intro');
    assert.deepEqual(noIdentity(echoed(read)), []);
    assert.equal((await s.api().get(s.url('docs', '/edit/intro'))).status, 401);
    assert.equal((await s.api().get(s.url('docs', '/%65dit/intro'))).status, 401);
    assert.equal((await s.api().get(s.url('docs', '/Edit/intro'))).status, 401, 'any letter case');
    // Signed in, the blocked path is the app's as usual.
    const b = s.browser('alice');
    const edit = await loginVia(b, s.url('docs', '/edit/intro'));
    assert.equal(edit.status, 200);
    assert.equal(edit.url, s.url('docs', '/edit/intro'));
    assert.equal(echoed(edit)['remote-user'], 'alice');
  });

  test('a signed-in user on a public path gets no identity headers', async () => {
    const b = s.browser('alice');
    const login = await loginVia(b, s.url('whoami', '/'));
    assert.equal(echoed(login)['remote-user'], 'alice', 'signed in');
    const r = await b.get(s.url('public', '/public/x'));
    assert.equal(r.status, 200);
    assert.deepEqual(noIdentity(echoed(r)), []);
    // The same session on the same app's other paths: identity headers.
    const closed = await b.get(s.url('public', '/private'));
    assert.equal(closed.status, 200);
    assert.equal(echoed(closed)['remote-user'], 'alice');
  });

  test('a blocked IP is refused even when logged in', async () => {
    const b = s.browser('alice');
    const login = await loginVia(b, s.url('whoami', '/'));
    assert.equal(echoed(login)['remote-user'], 'alice', 'signed in');
    const r = await b.get(s.url('vault', '/'));
    assert.equal(r.status, 403);
    assert.match(r.body, /cannot be opened from your network address/);
    assert.equal(s.upstream.requests.filter((q) => q.host.startsWith('vault.')).length, 0);
    const api = await s.api().get(s.url('vault', '/'));
    assert.equal(api.status, 403);
    assert.match(api.headers['x-tinyauth-location'], /\/unauthorized\?groupErr=false&ip=127\.0\.0\.1&resource=vault/);
  });

  test('an ip.bypass address needs no login and gets no identity headers', async () => {
    const r = await s.api().get(s.url('status', '/health'), { headers: SPOOF });
    assert.equal(r.status, 200);
    assert.deepEqual(noIdentity(echoed(r)), []);
    assert.equal(JSON.parse(r.body).path, '/health');
    // The same client on an app without the bypass must log in.
    assert.equal((await s.api().get(s.url('whoami', '/health'))).status, 401);
  });

  test('X-Forwarded-For cannot claim a bypassed address without trusted proxies', async () => {
    const r = await s.api().get(s.url('internal', '/'), { headers: { 'X-Forwarded-For': '10.9.9.9' } });
    assert.equal(r.status, 401);
  });

  test('response.headers and basic auth arrive at the upstream, replacing client copies', async () => {
    const b = s.browser('alice');
    await loginVia(b, s.url('whoami', '/'));
    const r = await b.get(s.url('legacy', '/'), { headers: { Authorization: 'Bearer client-token', 'X-Tenant': 'evil' } });
    assert.equal(r.status, 200);
    const h = echoed(r);
    assert.equal(h['x-tenant'], 'acme');
    assert.equal(h['x-note'], 'a,b');
    assert.equal(h.authorization, `Basic ${Buffer.from('svc:s3cret').toString('base64')}`);
    assert.equal(h['remote-user'], 'alice');
  });

  test('a user outside users.allow gets the unauthorized page', async () => {
    const bob = s.browser('bob');
    const r = await loginVia(bob, s.url('team', '/'));
    assert.equal(r.status, 403);
    assert.match(r.body, /Unauthorized/);
    assert.match(r.body, /team/);
    assert.match(r.body, /not allowed to use this app/);
    const alice = s.browser('alice');
    assert.equal((await loginVia(alice, s.url('team', '/'))).status, 200);
  });
});

describe('trusted proxies', () => {
  let s;
  before(async () => {
    // use_remote_address off: X-Forwarded-For reaches the filter as the "proxy"
    // (this test client on 127.0.0.1) sent it.
    s = await startStack({ name: 'trusted-proxies' }, {
      useRemoteAddress: false,
      customize: (c) => {
        c.auth = { trustedProxies: '127.0.0.1, ::1' };
        c.apps.geo = { ip: { block: '203.0.113.0/24' } };
        c.apps.office = { ip: { bypass: '198.51.100.7' } };
        return c;
      },
    });
  });
  after(async () => {
    await s?.stop();
  });

  test('the client address comes from X-Forwarded-For through a trusted proxy', async () => {
    const blocked = await s.api().get(s.url('geo', '/'), { headers: { 'X-Forwarded-For': '203.0.113.9' } });
    assert.equal(blocked.status, 403);
    const other = await s.api().get(s.url('geo', '/'), { headers: { 'X-Forwarded-For': '192.0.2.10' } });
    assert.equal(other.status, 401);
    const bypass = await s.api().get(s.url('office', '/'), { headers: { 'X-Forwarded-For': '198.51.100.7' } });
    assert.equal(bypass.status, 200);
  });

  test('only the hops right of the first untrusted address are believed', async () => {
    const spoofed = await s.api().get(s.url('office', '/'), { headers: { 'X-Forwarded-For': '198.51.100.7, 192.0.2.10' } });
    assert.equal(spoofed.status, 401, 'the client 192.0.2.10 cannot claim 198.51.100.7');
  });
});
