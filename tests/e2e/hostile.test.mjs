// Hostile requests and hostile provider data in real Envoy (issue #20 items
// 1–4), with an HTTP connection manager that does NOT normalise paths or
// refuse underscore headers, so the filter is the last line of defence:
//
//   1. path rules never fail open: every path an upstream could resolve to a
//      protected one needs a login (or is refused), legitimate public paths
//      still work, and path.block ignores letter case;
//   2. identity headers in every spelling an app server reads as
//      HTTP_REMOTE_* never reach the app, on public paths and for signed-in
//      users alike;
//   3. claim values cannot forge or flood Envoy's log lines;
//   4. a group named `users,admins` never reaches the app split in two.
//
// Requests are written byte for byte on a socket (lib/client.mjs rawHttp), so
// no client-side URL handling changes them, and the echo upstream reports the
// path and headers it received.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { DEFAULT_USERS } from './pocket-id/standin.mjs';
import { rawHttp } from './lib/client.mjs';
import { echoed, loginVia, sessionCookie, startStack } from './lib/stack.mjs';

/** An HTTP connection manager that passes paths and header names on as sent. */
const AS_SENT = {
  normalize_path: false,
  merge_slashes: false,
  path_with_escaped_slashes_action: 'KEEP_UNCHANGED',
  common_http_protocol_options: { headers_with_underscores_action: 'ALLOW' },
};

/** The CGI form of a header name: what PHP, WSGI, Rack or CGI apps read. */
const cgi = (name) => `HTTP_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
const identityLike = (headers) => Object.keys(headers).filter((name) => cgi(name).startsWith('HTTP_REMOTE_'));

const MALLORY = {
  sub: 'ma110000-0000-4000-8000-000000000006',
  // A newline and a complete, well-formed Envoy log prefix: unescaped, the
  // rest would be a log line of its own.
  username: 'mallory\r\n[2020-01-01 00:00:00.000][1][critical][wasm] forged: user="root" is admin\u0007',
  email: 'mallory\r\n@example.test',
  emailVerified: true,
  givenName: 'Mal\u0000lory',
  familyName: 'M\u001b[31m',
  groups: ['users', 'ops\r\nRemote-User: root'],
};
const LONG = {
  sub: '10e60000-0000-4000-8000-000000000007',
  username: `long-${'x'.repeat(1500)}`,
  email: 'long@example.test',
  emailVerified: true,
  givenName: 'Long',
  familyName: 'Name',
  groups: ['users'],
};
const COMMA = {
  sub: 'c0aa0000-0000-4000-8000-000000000008',
  username: 'comma',
  email: 'comma@example.test',
  emailVerified: true,
  givenName: 'Comma',
  familyName: 'Group',
  groups: ['users,admins', 'ops'],
};

describe('hostile paths, headers and claims', () => {
  /** @type {Awaited<ReturnType<typeof startStack>>} */
  let s;
  let host;
  before(async () => {
    s = await startStack({ name: 'hostile' }, {
      hcm: AS_SENT,
      provider: { users: [...DEFAULT_USERS, MALLORY, LONG, COMMA] },
      customize: (c) => {
        Object.assign(c.apps, {
          public: { path: { allow: '^/public' } },
          docs: { path: { block: '^/admin' } },
        });
        return c;
      },
    });
    host = (app) => `${app}.example.test:${s.port}`;
  });
  after(async () => {
    await s?.stop();
  });

  /** GET `target` on `app`'s host as written; returns the reply and what the upstream received, if anything. */
  async function get(app, target, headers = []) {
    const before = s.upstream.requests.length;
    const reply = await rawHttp(s.port, { target, headers: [['Host', host(app)], ['User-Agent', 'curl/8.5.0'], ...headers] });
    const reached = s.upstream.requests.slice(before);
    assert.ok(reached.length <= 1);
    return { reply, upstream: reached[0] };
  }

  async function assertNotPublic(app, target) {
    const { reply, upstream } = await get(app, target);
    assert.ok(
      reply.status === 401 || reply.status === 400,
      `${app} ${JSON.stringify(target)}: ${reply.status} — must need a login (401) or be refused (400)`,
    );
    assert.equal(upstream, undefined, `${app} ${JSON.stringify(target)} reached the app as ${JSON.stringify(upstream?.path)}`);
    if (reply.status === 401) assert.deepEqual(JSON.parse(reply.body), { status: 401, message: 'Unauthorized' });
    return reply.status;
  }

  async function assertPublic(app, target) {
    const { reply, upstream } = await get(app, target, [['Remote-User', 'root']]);
    assert.equal(reply.status, 200, `${app} ${JSON.stringify(target)}: ${reply.status} ${reply.body.slice(0, 200)}`);
    assert.equal(upstream?.path, target, 'the app gets the path as sent (nothing normalised it on the way)');
    assert.deepEqual(identityLike(upstream.headers), [], 'no identity headers on a public path');
  }

  test('this Envoy passes paths on as sent, so the filter decides alone', async () => {
    for (const target of ['/public/./x', '/public//x', '/public/a%2Fb', '/public/a%5Cb', '/public/x;v=1']) {
      await assertPublic('public', target);
    }
  });

  test('path.allow: no reading of the path escapes the public prefix', async () => {
    const attacks = {
      'the issue\'s example (encoded dots, then a bad escape)': '/public/%2e%2e/admin/%ff/../secret.txt',
      'invalid UTF-8 escape': '/public/%ff',
      'overlong UTF-8 dots': '/public/%c0%ae%c0%ae/admin',
      'truncated UTF-8 sequence': '/public/%e2%82/x',
      'encoded NUL': '/public/%00/../admin',
      'dot segments': '/public/../admin',
      'encoded dots (lower case)': '/public/%2e%2e/admin',
      'encoded dots (upper case)': '/public/%2E%2E/admin',
      'half-encoded dots': '/public/.%2e/admin',
      'half-encoded dots, the other half': '/public/%2e./admin',
      'encoded slashes': '/public%2f..%2fadmin',
      'encoded slashes (upper case)': '/public%2F..%2Fadmin',
      'an encoded slash after the dots': '/public/..%2fadmin',
      'encoded backslashes': '/public%5c..%5cadmin',
      'raw backslashes': '/public\\..\\admin',
      'a raw backslash after the dots': '/public/..\\admin',
      'double-encoded dots': '/public/%252e%252e/admin',
      'double-encoded slashes': '/public%252f..%252fadmin',
      'triple-encoded dots': '/public/%25252e%25252e/admin',
      'encoding deeper than four rounds': '/public/%2525252525252e%2525252525252e/admin',
      ';parameters (Tomcat, Spring)': '/public/..;/admin',
      ';parameters with a value': '/public/..;jsessionid=x/admin',
      'encoded dots with ;parameters': '/public/%2e%2e;/admin',
      'a repeated leading slash': '//public/../admin',
      'a repeated slash before the dots': '/public//../admin',
      'the public prefix only in the query': '/admin?/public',
      'an encoded question mark': '/admin%3f/public',
      'an encoded hash': '/admin%23/public',
    };
    const statuses = {};
    for (const [name, target] of Object.entries(attacks)) {
      statuses[name] = await assertNotPublic('public', target);
    }
    assert.ok(Object.values(statuses).every((st) => st === 401), `every attack here needs a login: ${JSON.stringify(statuses)}`);
    // The absolute form of a request target (RFC 9112 §3.2.2).
    const absolute = await rawHttp(s.port, { target: `http://${host('public')}/public/%2e%2e/admin`, headers: [['Host', host('public')]] });
    assert.equal(absolute.status, 401);
  });

  test('path.allow: legitimate public paths still need no login', async () => {
    for (const target of [
      '/public',
      '/public/',
      '/public/page?x=1',
      '/public/x?next=../../admin',
      '/public/a%20b',
      '/public/caf%C3%A9',
      '/public/%E2%9C%93/x.css',
      '/public/a;b',
      '/public/x/../y',
      '/public/%2e/y',
    ]) {
      await assertPublic('public', target);
    }
    // And a login-required path of the same app works for a signed-in user.
    const b = s.browser('alice');
    const r = await loginVia(b, `http://${host('public')}/private`);
    assert.equal(r.status, 200);
    assert.equal(echoed(r)['remote-user'], 'alice');
  });

  test('path.block: /Admin, /ADMIN and every other reading of /admin need a login', async () => {
    for (const target of [
      '/admin',
      '/Admin',
      '/ADMIN/settings',
      '/aDmIn',
      '/%41dmin',
      '/%61dmin',
      '/%2561dmin',
      '//admin',
      '/./admin',
      '/x/../admin',
      '/x/%2e%2e/admin',
      '/admin;x',
      '/x;/../admin',
      '/admin%2fusers',
      '\\admin',
      '/x\\..\\admin',
      '/x/%ff/../admin',
      '/%ff',
    ]) {
      await assertNotPublic('docs', target);
    }
    for (const target of ['/read', '/read/intro?admin=1', '/docs/admin', '/x/Admin']) {
      await assertPublic('docs', target);
    }
  });

  test('identity headers in any spelling never reach the app: public paths and signed-in users', async () => {
    const spoofed = [
      ['Remote_User', 'root'],
      ['remote_groups', 'admins'],
      ['REMOTE_EMAIL', 'root@evil.test'],
      ['Remote.Name', 'Root'],
      ['remote~sub', 'x'],
      ['REMOTE-USER', 'root'],
      ['Remote-Role', 'admin'],
      ['remote_user', 'root2'],
      ['Remote_Groups', 'wheel'],
    ];
    const onPublic = await get('public', '/public/x', spoofed);
    assert.equal(onPublic.reply.status, 200);
    assert.deepEqual(identityLike(onPublic.upstream.headers), [], 'public path');

    const b = s.browser('alice');
    await loginVia(b, s.url('whoami', '/'));
    const cookie = sessionCookie(b);
    const signedIn = await get('whoami', '/me', [['Cookie', `${cookie.name}=${cookie.value}`], ...spoofed]);
    assert.equal(signedIn.reply.status, 200);
    const h = signedIn.upstream.headers;
    assert.deepEqual(identityLike(h).sort(), ['remote-email', 'remote-groups', 'remote-name', 'remote-sub', 'remote-user']);
    assert.equal(h['remote-user'], 'alice');
    assert.equal(h['remote-groups'], 'admins,users');
    assert.equal(h['remote-email'], 'alice@example.test');
    assert.equal(h['remote-name'], 'Alice Anderson');
    assert.equal(h.cookie, undefined, 'the session cookie is not forwarded');
  });

  test('claims with CR, LF and control characters are escaped in the log and stripped from the headers', async () => {
    const mark = s.envoy.mark();
    const b = s.browser(MALLORY.sub);
    const r = await loginVia(b, s.url('whoami', '/'));
    assert.equal(r.status, 200, r.body);
    const h = echoed(r);
    for (const [name, value] of Object.entries(h)) {
      if (!name.startsWith('remote-')) continue;
      assert.doesNotMatch(String(value), /[\u0000-\u001f\u007f]/, `${name}: ${JSON.stringify(value)}`);
    }
    assert.equal(h['remote-user'], 'mallory[2020-01-01 00:00:00.000][1][critical][wasm] forged: user="root" is admin');
    assert.equal(h['remote-email'], 'mallory@example.test');
    assert.equal(h['remote-name'], 'Mallory M[31m');
    assert.equal(h['remote-groups'], 'users,opsRemote-User: root');
    assert.equal(Object.keys(h).filter((k) => k === 'remote-user').length, 1);

    // Refused by a group rule: the denial is logged with the username too.
    const denied = await b.get(s.url('admin', '/'));
    assert.equal(denied.status, 403);

    await s.envoy.waitForLog(/audit event=refused decision=deny .*app="admin"/, 5000, { since: mark });
    const lines = s.envoy.proc.linesSince(mark);
    const escaped = String.raw`"mallory\r\n[2020-01-01 00:00:00.000][1][critical][wasm] forged: user=\"root\" is admin\u{7}"`;
    assert.ok(lines.some((l) => l.includes(`audit event=login decision=allow user=${escaped} email="mallory\\r\\n@example.test" provider="generic"`)), `the login line, escaped:\n${lines.join('\n')}`);
    assert.ok(lines.some((l) => /audit event=refused decision=deny/.test(l) && l.includes(`user=${escaped}`) && l.includes('app="admin"')), 'the refusal line, escaped');
    for (const line of lines) {
      assert.ok(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\]\[\d+\]\[\w+\]\[\w+\]/.test(line) || !line.startsWith('['), `a line Envoy did not start: ${line}`);
      assert.ok(!line.startsWith('[2020-01-01'), `a forged line: ${line}`);
      if (line.includes('forged')) assert.ok(line.includes('user="mallory\\r\\n'), `"forged" outside the escaped value: ${line}`);
    }
  });

  test('a very long username is cut in the log', async () => {
    const mark = s.envoy.mark();
    const r = await loginVia(s.browser(LONG.sub), s.url('whoami', '/'));
    assert.equal(r.status, 200, r.body);
    assert.equal(echoed(r)['remote-user'], LONG.username, 'the app gets all of it');
    await s.envoy.waitForLog(/audit event=login decision=allow user="long-x+"… /, 5000, { since: mark });
    const line = s.envoy.proc.linesSince(mark).find((l) => l.includes('audit event=login decision=allow user="long-'));
    const logged = /user="(long-x+)"…/.exec(line)[1];
    assert.equal(logged.length, 200, 'cut at 200 characters');
    assert.ok(line.length < 600, `${line.length} characters`);
  });

  test('a group whose name holds a comma never reaches the app as two groups', async () => {
    const b = s.browser(COMMA.sub);
    const r = await loginVia(b, s.url('whoami', '/'));
    assert.equal(r.status, 200, r.body);
    assert.equal(echoed(r)['remote-groups'], 'ops', '`users,admins` is left out of Remote-Groups');
    const admin = await b.get(s.url('admin', '/'));
    assert.equal(admin.status, 403, 'and `users,admins` is not the group `admins`');
  });
});
