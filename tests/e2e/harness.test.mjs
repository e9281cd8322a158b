// Self-tests for the e2e harness (tests/e2e/lib). Run from the repo root:
//   node --test tests/e2e/harness.test.mjs
// The Envoy tests need `bash tests/setup.sh envoy`; without it they FAIL
// (never skip) with a message saying so.

import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import fs from 'node:fs';
import os from 'node:os';
import {
  CookieJar,
  Browser,
  apiClient,
  parseCookieDate,
  parseSetCookie,
  defaultPath,
  pathMatch,
  domainMatch,
  freePort,
  freePorts,
  startEchoUpstream,
  buildEnvoyConfig,
  startEnvoy,
  runEnvoyExpectFailure,
  envoyBinary,
  wasmPath,
  spawnProcess,
  startProcess,
  liveProcesses,
  stopAll,
  CHROME_UA,
  CURL_UA,
} from './lib/index.mjs';

after(() => stopAll());

// ------------------------------------------------------------------ cookie jar

describe('cookie jar', () => {
  const AUTH = 'http://auth.example.test:8080/login';
  const APP = 'http://app.example.test:8080/';

  test('domain cookie from auth.example.test with Domain=example.test is sent to app.example.test', () => {
    const jar = new CookieJar();
    assert.equal(jar.setCookie('sid=abc; Domain=example.test; Path=/', AUTH).ok, true);
    assert.deepEqual(
      jar.get(APP).map((c) => `${c.name}=${c.value}`),
      ['sid=abc'],
    );
    assert.equal(jar.cookieHeader('http://example.test/'), 'sid=abc');
    assert.equal(jar.cookieHeader('http://deep.app.example.test/x'), 'sid=abc');
    assert.equal(jar.cookieHeader('http://notexample.test/'), '');
    const [c] = jar.list();
    assert.equal(c.domain, 'example.test');
    assert.equal(c.hostOnly, false);
  });

  test('leading dot in Domain is ignored', () => {
    const jar = new CookieJar();
    jar.setCookie('a=1; Domain=.Example.TEST', AUTH);
    assert.equal(jar.list()[0].domain, 'example.test');
    assert.equal(jar.cookieHeader(APP), 'a=1');
  });

  test('host-only cookie is not sent to another subdomain', () => {
    const jar = new CookieJar();
    jar.setCookie('h=1; Path=/', AUTH);
    assert.equal(jar.cookieHeader(APP), '');
    assert.equal(jar.cookieHeader('http://auth.example.test:9999/other'), 'h=1', 'ports do not matter');
    assert.equal(jar.cookieHeader('http://sub.auth.example.test/'), '', 'host-only: not to subdomains');
    const [c] = jar.list();
    assert.equal(c.hostOnly, true);
    assert.equal(c.domain, 'auth.example.test');
  });

  test('Domain=evil.test (not domain-matching the request host) is rejected', () => {
    const jar = new CookieJar();
    const r = jar.setCookie('x=1; Domain=evil.test', AUTH);
    assert.equal(r.ok, false);
    assert.match(r.reason, /does not domain-match/);
    assert.equal(jar.list().length, 0);
    assert.equal(jar.rejected.length, 1);
    // a sibling or a more specific domain is not allowed either
    assert.equal(jar.setCookie('x=1; Domain=app.example.test', AUTH).ok, false);
    assert.equal(jar.setCookie('x=1; Domain=sub.auth.example.test', AUTH).ok, false);
  });

  test('public-suffix Domain (single label) is rejected', () => {
    const jar = new CookieJar();
    assert.equal(jar.setCookie('x=1; Domain=test', AUTH).ok, false);
    assert.equal(jar.list().length, 0);
  });

  test('Domain on an IP host only when identical', () => {
    const jar = new CookieJar();
    assert.equal(jar.setCookie('x=1; Domain=0.0.1', 'http://127.0.0.1/').ok, false);
    assert.equal(jar.setCookie('y=1; Domain=127.0.0.1', 'http://127.0.0.1/').ok, true);
    assert.equal(jar.cookieHeader('http://127.0.0.1:1234/'), 'y=1');
  });

  test('Path attribute and path-matching', () => {
    const jar = new CookieJar();
    jar.setCookie('p=1; Path=/app', APP);
    assert.equal(jar.cookieHeader('http://app.example.test/app'), 'p=1');
    assert.equal(jar.cookieHeader('http://app.example.test/app/x'), 'p=1');
    assert.equal(jar.cookieHeader('http://app.example.test/application'), '');
    assert.equal(jar.cookieHeader('http://app.example.test/'), '');
    jar.setCookie('q=1; Path=/app/', APP);
    assert.equal(jar.cookieHeader('http://app.example.test/app'), 'p=1');
    assert.equal(jar.cookieHeader('http://app.example.test/app/'), 'q=1; p=1', 'longer path first');
  });

  test('default path is the directory of the request path', () => {
    assert.equal(defaultPath('/'), '/');
    assert.equal(defaultPath('/login'), '/');
    assert.equal(defaultPath('/a/b/c'), '/a/b');
    assert.equal(defaultPath(''), '/');
    const jar = new CookieJar();
    jar.setCookie('d=1', 'http://app.example.test/oauth2/callback?code=x');
    assert.equal(jar.list()[0].path, '/oauth2');
    assert.equal(jar.cookieHeader('http://app.example.test/oauth2/other'), 'd=1');
    assert.equal(jar.cookieHeader('http://app.example.test/'), '');
    jar.setCookie('e=1; Path=relative', 'http://app.example.test/x/y');
    assert.equal(jar.list().find((c) => c.name === 'e').path, '/x', 'non-/ Path uses default path');
  });

  test('pathMatch / domainMatch helpers', () => {
    assert.equal(pathMatch('/a/b', '/a'), true);
    assert.equal(pathMatch('/ab', '/a'), false);
    assert.equal(pathMatch('/a/', '/a/'), true);
    assert.equal(domainMatch('a.example.test', 'example.test'), true);
    assert.equal(domainMatch('aexample.test', 'example.test'), false);
    assert.equal(domainMatch('1.2.3.4', '2.3.4'), false);
  });

  test('Max-Age=0 deletes an existing cookie; Max-Age wins over Expires', () => {
    let now = Date.UTC(2030, 0, 1);
    const jar = new CookieJar({ now: () => now });
    jar.setCookie('s=1; Path=/', APP);
    assert.equal(jar.cookieHeader(APP), 's=1');
    const r = jar.setCookie('s=; Path=/; Max-Age=0', APP);
    assert.equal(r.deleted, true);
    assert.equal(jar.cookieHeader(APP), '');
    assert.equal(jar.list().length, 0);

    jar.setCookie('m=1; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT', APP);
    assert.equal(jar.cookieHeader(APP), 'm=1', 'Max-Age has precedence');
    assert.equal(jar.list()[0].expires.getTime(), now + 60000);
    now += 61000;
    assert.equal(jar.cookieHeader(APP), '', 'expired after 60 s');
    jar.setCookie('n=1; Max-Age=-5', APP);
    assert.equal(jar.list().length, 0, 'negative Max-Age never stores');
  });

  test('deletion must match name, domain and path', () => {
    const jar = new CookieJar();
    jar.setCookie('s=1; Path=/', APP);
    jar.setCookie('s=; Path=/other; Max-Age=0', APP);
    assert.equal(jar.cookieHeader(APP), 's=1', 'different path: not deleted');
    jar.setCookie('s=; Domain=example.test; Path=/; Max-Age=0', APP);
    assert.equal(jar.cookieHeader(APP), 's=1', 'domain cookie is a different cookie than host-only');
  });

  test('Expires in the past deletes; Expires in the future persists', () => {
    const jar = new CookieJar();
    jar.setCookie('e=1; Path=/', APP);
    jar.setCookie('e=1; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT', APP);
    assert.equal(jar.list().length, 0);
    jar.setCookie('f=2; Path=/; Expires=Wed, 21 Oct 2099 07:28:00 GMT', APP);
    assert.equal(jar.list()[0].expires.toISOString(), '2099-10-21T07:28:00.000Z');
    jar.setCookie('g=3; Expires=garbage', APP);
    assert.equal(jar.list().find((c) => c.name === 'g').expires, null, 'invalid Expires = session cookie');
  });

  test('cookie date parsing (RFC 6265 5.1.1)', () => {
    assert.equal(parseCookieDate('Wed, 21 Oct 2015 07:28:00 GMT'), Date.UTC(2015, 9, 21, 7, 28, 0));
    assert.equal(parseCookieDate('Wednesday, 21-Oct-15 07:28:00 GMT'), Date.UTC(2015, 9, 21, 7, 28, 0));
    assert.equal(parseCookieDate('Sun Nov  6 08:49:37 1994'), Date.UTC(1994, 10, 6, 8, 49, 37));
    assert.equal(parseCookieDate('21 Oct 70 00:00:00'), Date.UTC(1970, 9, 21));
    assert.equal(parseCookieDate('31 Feb 2020 00:00:00'), null);
    assert.equal(parseCookieDate('nonsense'), null);
  });

  test('Secure cookies: not sent over http; rejected when set over http', () => {
    const jar = new CookieJar();
    assert.equal(jar.setCookie('sec=1; Secure; Path=/', 'https://app.example.test/').ok, true);
    assert.equal(jar.cookieHeader('https://app.example.test/'), 'sec=1');
    assert.equal(jar.cookieHeader('http://app.example.test/'), '');
    const r = jar.setCookie('sec2=1; Secure', 'http://app.example.test/');
    assert.equal(r.ok, false);
    assert.match(r.reason, /non-secure/);
    // an http response may not overwrite a Secure cookie
    assert.equal(jar.setCookie('sec=evil; Path=/', 'http://app.example.test/').ok, false);
    assert.equal(jar.getValue('sec', 'https://app.example.test/'), '1');
  });

  test('HttpOnly and SameSite are recorded', () => {
    const jar = new CookieJar();
    jar.setCookie('a=1; HttpOnly; SameSite=Lax', APP);
    jar.setCookie('b=1; samesite=STRICT', APP);
    jar.setCookie('c=1', APP);
    jar.setCookie('d=1; SameSite=None; Secure', 'https://app.example.test/');
    const byName = Object.fromEntries(jar.list().map((c) => [c.name, c]));
    assert.equal(byName.a.httpOnly, true);
    assert.equal(byName.a.sameSite, 'Lax');
    assert.equal(byName.b.sameSite, 'Strict');
    assert.equal(byName.b.httpOnly, false);
    assert.equal(byName.c.sameSite, 'Default');
    assert.equal(byName.d.sameSite, 'None');
    assert.equal(jar.setCookie('e=1; SameSite=None', APP).ok, false, 'None requires Secure');
  });

  test('SameSite: Lax sent on cross-site top-level GET, not on cross-site POST; Strict only same-site', () => {
    const jar = new CookieJar();
    jar.setCookie('lax=1; SameSite=Lax', APP);
    jar.setCookie('def=1', APP);
    jar.setCookie('strict=1; SameSite=Strict', APP);
    assert.equal(jar.cookieHeader(APP, { sameSite: true }), 'lax=1; def=1; strict=1');
    assert.equal(jar.cookieHeader(APP, { sameSite: false, method: 'GET' }), 'lax=1; def=1');
    assert.equal(jar.cookieHeader(APP, { sameSite: false, method: 'POST' }), '');
    assert.equal(jar.cookieHeader(APP, { sameSite: false, topLevel: false }), '');
  });

  test('cookie prefixes, size limit, control characters', () => {
    const jar = new CookieJar();
    assert.equal(jar.setCookie('__Host-a=1; Secure; Path=/', 'https://app.example.test/').ok, true);
    assert.equal(jar.setCookie('__Host-b=1; Secure; Path=/; Domain=example.test', 'https://app.example.test/').ok, false);
    assert.equal(jar.setCookie('__Host-c=1; Secure; Path=/x', 'https://app.example.test/').ok, false);
    assert.equal(jar.setCookie('__Secure-d=1', 'https://app.example.test/').ok, false);
    assert.equal(jar.setCookie(`big=${'x'.repeat(4094)}`, APP).ok, false, 'name+value = 4097');
    assert.equal(jar.setCookie(`ok=${'x'.repeat(4094)}`, APP).ok, true, 'name+value = 4096');
    assert.equal(jar.setCookie('bad=a\x01b', APP).ok, false);
  });

  test('replacing a cookie keeps its creation time and header order', () => {
    let now = 1000;
    const jar = new CookieJar({ now: () => now });
    jar.setCookie('a=1', APP);
    now++;
    jar.setCookie('b=1', APP);
    now++;
    jar.setCookie('a=2', APP);
    assert.equal(jar.cookieHeader(APP), 'a=2; b=1');
  });

  test('parseSetCookie edge cases', () => {
    assert.equal(parseSetCookie('=')?.name, undefined);
    const nameless = parseSetCookie('justvalue');
    assert.equal(nameless?.name, '');
    assert.equal(nameless?.value, 'justvalue');
    const p = parseSetCookie(' n = v w ; Path=/x ;  secure ; unknown=1; Domain=');
    assert.equal(p?.name, 'n');
    assert.equal(p?.value, 'v w');
    assert.equal(p?.path, '/x');
    assert.equal(p?.secure, true);
    assert.equal(p?.domain, null);
    assert.equal(parseSetCookie('a="quoted"; Path=/')?.value, '"quoted"');
  });

  test('jar.set plants and tampers with cookies; jar.list shape', () => {
    const jar = new CookieJar();
    jar.setCookie('sess=good; Path=/; HttpOnly; SameSite=Lax', APP);
    jar.set('sess', 'tampered', { domain: 'app.example.test' });
    const list = jar.list();
    assert.equal(list.length, 1);
    assert.deepEqual(
      { ...list[0], creation: undefined },
      {
        name: 'sess',
        value: 'tampered',
        domain: 'app.example.test',
        hostOnly: true,
        path: '/',
        expires: null,
        secure: false,
        httpOnly: true,
        sameSite: 'Lax',
        creation: undefined,
      },
    );
    jar.set('shared', 'x', { domain: '.example.test', path: '/' });
    assert.equal(jar.getValue('shared', 'http://other.example.test/'), 'x');
    jar.set('old', 'x', { url: APP, expires: new Date(Date.now() - 1000) });
    assert.equal(jar.getValue('old', APP), undefined, 'expired plant is not stored');
    assert.equal(jar.delete('shared'), 1);
    jar.clear();
    assert.equal(jar.list().length, 0);
  });
});

// ----------------------------------------------------------- browser client

/**
 * One loopback server that plays several hosts (by Host header), like Envoy
 * with virtual hosts would. Handlers get (req, res, body, url).
 */
async function multiHostServer(routes) {
  const seen = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const url = new URL(req.url, `http://${req.headers.host}`);
      seen.push({ method: req.method, host: req.headers.host, path: req.url, headers: req.headers, body });
      const key = `${url.hostname} ${url.pathname}`;
      const h = routes[key];
      if (!h) {
        res.writeHead(404).end(`no route ${key}`);
        return;
      }
      h(req, res, body, url);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  after(() => new Promise((r) => server.close(r)));
  return { port, seen, server };
}

describe('browser client', () => {
  test('follows redirects across hosts, stores cookies per hop, sends navigation headers', async () => {
    const srv = await multiHostServer({
      'app.example.test /private': (req, res) => {
        if (/app_session=ok/.test(req.headers.cookie ?? '')) {
          res.writeHead(200, { 'content-type': 'text/plain' }).end('welcome');
        } else {
          res.writeHead(302, {
            location: `http://auth.example.test:${srv.port}/login?rd=${encodeURIComponent('/private')}`,
            'set-cookie': ['app_state=s1; Path=/; HttpOnly; SameSite=Lax'],
          }).end();
        }
      },
      'auth.example.test /login': (req, res) => {
        res.writeHead(303, {
          location: `http://app.example.test:${srv.port}/callback?code=c1`,
          'set-cookie': ['auth_sso=1; Domain=example.test; Path=/', 'auth_host=1; Path=/'],
        }).end();
      },
      'app.example.test /callback': (req, res) => {
        res.writeHead(302, { location: '/private', 'set-cookie': 'app_session=ok; Path=/; HttpOnly' }).end();
      },
    });
    const b = new Browser();
    const r = await b.get(`http://app.example.test:${srv.port}/private`);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'welcome');
    assert.equal(r.url, `http://app.example.test:${srv.port}/private`);
    assert.equal(r.redirected, true);
    assert.deepEqual(
      r.chain.map((h) => [h.status, new URL(h.url).host + new URL(h.url).pathname]),
      [
        [302, `app.example.test:${srv.port}/private`],
        [303, `auth.example.test:${srv.port}/login`],
        [302, `app.example.test:${srv.port}/callback`],
        [200, `app.example.test:${srv.port}/private`],
      ],
    );
    assert.equal(r.chain[2].location, '/private');
    // Host header = URL host:port on every hop
    assert.deepEqual(
      srv.seen.map((s) => s.host),
      ['app', 'auth', 'app', 'app'].map((h) => `${h}.example.test:${srv.port}`),
    );
    // cookies per hop
    assert.equal(srv.seen[0].headers.cookie, undefined);
    assert.equal(srv.seen[1].headers.cookie, undefined, 'host-only app cookie not sent to auth');
    assert.equal(srv.seen[2].headers.cookie, 'app_state=s1; auth_sso=1', 'domain cookie from auth reaches app');
    assert.equal(srv.seen[3].headers.cookie, 'app_state=s1; auth_sso=1; app_session=ok');
    // navigation headers
    const h0 = srv.seen[0].headers;
    assert.equal(h0['user-agent'], CHROME_UA);
    assert.match(h0.accept, /^text\/html,/);
    assert.equal(h0['sec-fetch-mode'], 'navigate');
    assert.equal(h0['sec-fetch-dest'], 'document');
    assert.equal(h0['sec-fetch-site'], 'none');
    assert.equal(srv.seen[3].headers['sec-fetch-site'], 'none', 'typed navigation stays "none" across redirects');
    assert.equal(h0.referer, undefined);
    const names = b.jar.list().map((c) => c.name).sort();
    assert.deepEqual(names, ['app_session', 'app_state', 'auth_host', 'auth_sso']);
  });

  test('307 keeps POST and body; 302 and 303 turn POST into GET', async () => {
    const srv = await multiHostServer({
      'app.example.test /p307': (req, res) => res.writeHead(307, { location: '/target' }).end(),
      'app.example.test /p308': (req, res) => res.writeHead(308, { location: '/target' }).end(),
      'app.example.test /p302': (req, res) => res.writeHead(302, { location: '/target' }).end(),
      'app.example.test /p303': (req, res) => res.writeHead(303, { location: '/target' }).end(),
      'app.example.test /target': (req, res, body) =>
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ method: req.method, body, ct: req.headers['content-type'] ?? null })),
    });
    const b = new Browser();
    const base = `http://app.example.test:${srv.port}`;
    for (const [code, method, body, ct] of [
      ['307', 'POST', 'a=1&b=two+words', 'application/x-www-form-urlencoded'],
      ['308', 'POST', 'a=1&b=two+words', 'application/x-www-form-urlencoded'],
      ['302', 'GET', '', null],
      ['303', 'GET', '', null],
    ]) {
      const r = await b.post(`${base}/p${code}`, { form: { a: '1', b: 'two words' } });
      assert.equal(r.status, 200, code);
      assert.deepEqual(r.json(), { method, body, ct }, code);
      assert.deepEqual(
        r.chain.map((h) => h.method),
        ['POST', method],
        code,
      );
    }
    // a form POST carries Origin
    const post = srv.seen.find((s) => s.path === '/p307');
    assert.equal(post.headers.origin, base);
    assert.equal(post.headers['sec-fetch-site'], 'same-origin');
  });

  test('307 across origins: Origin header tainting, Authorization dropped, body kept', async () => {
    const srv = await multiHostServer({
      'app.example.test /start': (req, res) =>
        res.writeHead(307, { location: `http://auth.example.test:${srv.port}/bounce` }).end(),
      'auth.example.test /bounce': (req, res) =>
        res.writeHead(307, { location: `http://app.example.test:${srv.port}/end` }).end(),
      'app.example.test /end': (req, res, body) => res.writeHead(200).end(body),
    });
    const b = new Browser();
    const r = await b.post(`http://app.example.test:${srv.port}/start`, {
      form: { k: 'v' },
      headers: { Authorization: 'Basic eDp5' },
    });
    assert.equal(r.body, 'k=v');
    assert.deepEqual(srv.seen.map((s) => s.method), ['POST', 'POST', 'POST']);
    assert.deepEqual(
      srv.seen.map((s) => s.headers.origin),
      [`http://app.example.test:${srv.port}`, `http://app.example.test:${srv.port}`, 'null'],
    );
    assert.deepEqual(srv.seen.map((s) => s.headers.authorization), ['Basic eDp5', undefined, undefined]);
  });

  test('cross-site navigation from a page: Referer, Sec-Fetch-Site, SameSite rules', async () => {
    const srv = await multiHostServer({
      'app.example.test /': (req, res) => res.writeHead(200).end(req.headers.cookie ?? ''),
      'idp.other.test /go': (req, res) => res.writeHead(302, { location: `http://app.example.test:${srv.port}/` }).end(),
    });
    const b = new Browser();
    const app = `http://app.example.test:${srv.port}/`;
    b.jar.setCookie('lax=1; SameSite=Lax', app);
    b.jar.setCookie('strict=1; SameSite=Strict', app);
    // cross-site GET navigation (redirect from another site): Lax yes, Strict no
    let r = await b.get(`http://idp.other.test:${srv.port}/go`, { from: `http://idp.other.test:${srv.port}/page?q=1` });
    assert.equal(r.body, 'lax=1');
    const last = srv.seen.at(-1).headers;
    assert.equal(last['sec-fetch-site'], 'cross-site');
    assert.equal(last.referer, `http://idp.other.test:${srv.port}/`, 'cross-origin referrer is the origin only');
    // cross-site POST: neither
    srv.seen.length = 0;
    r = await b.post(app, { form: { x: '1' }, from: `http://idp.other.test:${srv.port}/page` });
    assert.equal(r.body, '');
    assert.equal(srv.seen[0].headers.origin, `http://idp.other.test:${srv.port}`);
    // same-site (other subdomain) navigation: both
    r = await b.get(app, { from: `http://auth.example.test:${srv.port}/x` });
    assert.equal(r.body, 'lax=1; strict=1');
    assert.equal(srv.seen.at(-1).headers['sec-fetch-site'], 'same-site');
    // same-origin: full referrer
    await b.get(app, { from: `${app}page?a=1#frag` });
    assert.equal(srv.seen.at(-1).headers.referer, `${app}page?a=1`);
    assert.equal(srv.seen.at(-1).headers['sec-fetch-site'], 'same-origin');
  });

  test('followRedirects:false, maxRedirects, relative Location, redirect loop error', async () => {
    const srv = await multiHostServer({
      'app.example.test /a/b': (req, res) => res.writeHead(302, { location: 'c?x=1' }).end(),
      'app.example.test /a/c': (req, res) => res.writeHead(200).end(req.url),
      'app.example.test /loop': (req, res) => res.writeHead(302, { location: '/loop' }).end(),
    });
    const b = new Browser();
    const base = `http://app.example.test:${srv.port}`;
    const r = await b.get(`${base}/a/b`);
    assert.equal(r.body, '/a/c?x=1');
    const nr = await b.get(`${base}/a/b`, { followRedirects: false });
    assert.equal(nr.status, 302);
    assert.equal(nr.headers.location, 'c?x=1');
    assert.equal(nr.chain.length, 1);
    await assert.rejects(b.get(`${base}/loop`, { maxRedirects: 5 }), /too many redirects \(> 5\)/);
    const before = srv.seen.length;
    await assert.rejects(b.get(`${base}/loop`), /too many redirects \(> 20\)/);
    assert.equal(srv.seen.length - before, 21, 'Chrome-like: 20 redirects followed, the 21st refused');
  });

  test('response shape: headers lower-case, set-cookie array, gzip/br decoding, json()', async () => {
    const srv = await multiHostServer({
      'app.example.test /gz': (req, res) =>
        res
          .writeHead(200, {
            'Content-Encoding': 'gzip',
            'X-Thing': 'A',
            'Set-Cookie': ['a=1', 'b=2'],
            'content-type': 'application/json',
          })
          .end(zlib.gzipSync(JSON.stringify({ ok: true }))),
      'app.example.test /br': (req, res) =>
        res.writeHead(200, { 'content-encoding': 'br' }).end(zlib.brotliCompressSync('hello br')),
      'app.example.test /html': (req, res) => res.writeHead(500).end('<html>oops</html>'),
    });
    const b = new Browser();
    const r = await b.get(`http://app.example.test:${srv.port}/gz`);
    assert.equal(r.headers['x-thing'], 'A');
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
    assert.deepEqual(r.json(), { ok: true });
    assert.equal(b.jar.cookieHeader(`http://app.example.test:${srv.port}/`), 'a=1; b=2');
    assert.equal((await b.get(`http://app.example.test:${srv.port}/br`)).body, 'hello br');
    const html = await b.get(`http://app.example.test:${srv.port}/html`);
    assert.equal(html.status, 500);
    assert.throws(() => html.json(), /status 500\) is not JSON.*<html>oops/);
  });

  test('apiClient: curl-like headers, no Sec-Fetch, does not follow redirects by default', async () => {
    const srv = await multiHostServer({
      'api.example.test /r': (req, res) => res.writeHead(302, { location: '/x' }).end(),
      'api.example.test /x': (req, res) => res.writeHead(200).end('x'),
    });
    const c = apiClient();
    const r = await c.get(`http://api.example.test:${srv.port}/r`);
    assert.equal(r.status, 302);
    const h = srv.seen[0].headers;
    assert.equal(h['user-agent'], CURL_UA);
    assert.equal(h.accept, '*/*');
    for (const k of Object.keys(h)) assert.doesNotMatch(k, /^sec-/);
    assert.equal(h['accept-encoding'], undefined);
    const r2 = await c.get(`http://api.example.test:${srv.port}/r`, { followRedirects: true });
    assert.equal(r2.body, 'x');
    const r3 = await apiClient({ followRedirects: true }).request('GET', `http://api.example.test:${srv.port}/r`, {
      headers: { Authorization: 'Bearer t' },
    });
    assert.equal(r3.status, 200);
    assert.equal(srv.seen.at(-1).headers.authorization, 'Bearer t', 'same-origin redirect keeps Authorization');
  });

  test('explicit Cookie header overrides the jar', async () => {
    const srv = await multiHostServer({
      'app.example.test /': (req, res) => res.writeHead(200).end(req.headers.cookie ?? ''),
    });
    const b = new Browser();
    const url = `http://app.example.test:${srv.port}/`;
    b.jar.set('a', '1', { url });
    assert.equal((await b.get(url)).body, 'a=1');
    assert.equal((await b.get(url, { headers: { Cookie: 'forged=1' } })).body, 'forged=1');
  });

  test('https with rejectUnauthorized:false needs no CA (self-signed cert via openssl if present)', async (t) => {
    const { execFileSync } = await import('node:child_process');
    const os = await import('node:os');
    const path = await import('node:path');
    const https = await import('node:https');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-tls-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    try {
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=app.example.test',
        '-addext', 'subjectAltName=DNS:app.example.test',
        '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
      ], { stdio: 'ignore' });
    } catch {
      // openssl is part of every Debian base image; if it is really missing, the
      // https path is still exercised by the CA-rejection branch below.
      assert.fail('openssl is required for this test (apt-get install -y openssl)');
    }
    const cert = fs.readFileSync(path.join(dir, 'cert.pem'));
    const server = https.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert }, (req, res) =>
      res.writeHead(200, { 'set-cookie': 's=1; Secure; Path=/' }).end(`${req.headers.host} ${req.socket.servername}`),
    );
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => new Promise((r) => server.close(r)));
    const url = `https://app.example.test:${server.address().port}/`;
    const b = new Browser();
    const r = await b.get(url);
    assert.equal(r.body, `app.example.test:${server.address().port} app.example.test`, 'Host and SNI are the URL host');
    assert.equal(b.jar.cookieHeader(url), 's=1', 'Secure cookie set over https');
    const verified = new Browser({ ca: cert });
    assert.equal((await verified.get(url)).status, 200);
    const strict = new Browser({ rejectUnauthorized: true });
    await assert.rejects(strict.get(url), /self-signed|unable to verify|certificate/i);
  });

  test('request timeout rejects with a clear error', async () => {
    const server = http.createServer(() => {
      /* never answers */
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    after(() => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    });
    const b = new Browser({ timeoutMs: 300 });
    await assert.rejects(
      b.get(`http://slow.example.test:${server.address().port}/`),
      /GET http:\/\/slow\.example\.test:\d+\/ timed out after 300 ms/,
    );
  });

  test('connection refused names the URL', async () => {
    const port = await freePort();
    await assert.rejects(new Browser().get(`http://app.example.test:${port}/`), /ECONNREFUSED/);
  });
});

// ------------------------------------------------------------ ports / procs

/**
 * Wait (up to 3 s) until no non-zombie process is left in process group
 * `pgid`. Zombies are ignored: they are dead, just not yet reaped by init.
 */
async function groupGone(pgid) {
  const deadline = Date.now() + 3000;
  for (;;) {
    const alive = fs.readdirSync('/proc').filter((d) => {
      if (!/^\d+$/.test(d)) return false;
      try {
        const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return Number(fields[2]) === pgid && fields[0] !== 'Z';
      } catch {
        return false;
      }
    });
    if (alive.length === 0) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('ports and processes', () => {
  test('freePort / freePorts', async () => {
    const p = await freePort();
    assert.ok(p > 0 && p < 65536);
    const ps = await freePorts(5);
    assert.equal(new Set(ps).size, 5);
  });

  test('spawned processes are captured, logged to artifacts, and killed as a group', async (t) => {
    const proc = await startProcess({
      name: 'sleeper',
      testName: 'harness-procs',
      command: 'bash',
      args: ['-c', 'echo started; echo err >&2; sleep 300 & wait'],
      ready: /started/,
    });
    assert.equal(liveProcesses().includes(proc), true);
    await proc.waitForLog(/^err$/, 2000);
    assert.match(proc.logs(), /started/);
    await proc.stop();
    assert.equal(proc.running, false);
    assert.equal(liveProcesses().includes(proc), false);
    assert.match(fs.readFileSync(proc.logFile, 'utf8'), /started/);
    assert.ok(proc.logFile.includes('.artifacts/harness-procs/'));
    // the whole group is gone (the background `sleep` too)
    assert.equal(await groupGone(proc.pid), true, 'process group still has live members');
  });

  test('readiness failure includes the log tail', async () => {
    await assert.rejects(
      startProcess({ name: 'dies', testName: 'harness-procs', command: 'bash', args: ['-c', 'echo boom-line; exit 3'], ready: () => false }),
      /dies exited \(code 3\) before becoming ready;[\s\S]*boom-line/,
    );
  });

  test('children die with the test process (exit hook)', async () => {
    // A child node process starts a sleeper through the harness and exits with an error.
    const script = `
      import { spawnProcess } from ${JSON.stringify(new URL('./lib/procs.mjs', import.meta.url).href)};
      const p = spawnProcess({ name: 'orphan-candidate', testName: 'harness-procs', command: 'sleep', args: ['300'] });
      console.log(p.pid);
      setTimeout(() => { throw new Error('simulated test failure'); }, 100);
    `;
    const child = spawnProcess({ name: 'parent', testName: 'harness-procs', command: process.execPath, args: ['--input-type=module', '-e', script] });
    const pidLine = await child.waitForLog(/^\d+$/, 5000);
    await child.exitPromise;
    assert.equal(await groupGone(Number(pidLine)), true, 'sleeper must not outlive its parent');
  });
});

// ------------------------------------------------------------------- Envoy

describe('envoy', () => {
  test('envoyBinary() exists (else: run `bash tests/setup.sh envoy`) and error text names setup.sh', () => {
    const saved = process.env.ENVOY_BIN;
    try {
      process.env.ENVOY_BIN = '/nonexistent/envoy';
      assert.throws(() => envoyBinary(), /bash tests\/setup\.sh envoy/);
    } finally {
      if (saved === undefined) delete process.env.ENVOY_BIN;
      else process.env.ENVOY_BIN = saved;
    }
    envoyBinary(); // throws "Run `bash tests/setup.sh envoy` ..." when not installed → test fails
  });

  test('wasmPath() error names `bash build.sh`', () => {
    const saved = process.env.TINYAUTH_WASM;
    try {
      process.env.TINYAUTH_WASM = '/nonexistent/tinyauth_wasm.wasm';
      assert.throws(() => wasmPath(), /bash build\.sh/);
    } finally {
      if (saved === undefined) delete process.env.TINYAUTH_WASM;
      else process.env.TINYAUTH_WASM = saved;
    }
  });

  test('buildEnvoyConfig produces the expected wasm filter and clusters', () => {
    const cfg = JSON.parse(
      buildEnvoyConfig({
        listenPort: 10000,
        adminPort: 10001,
        wasmFile: '/x/tinyauth_wasm.wasm',
        filterConfig: { issuer: 'http://id.example.test' },
        envVars: { SECRET: 's3cret', N: 1 },
        clusters: [
          { name: 'app', host: '127.0.0.1', port: 8080 },
          { name: 'idp', host: 'localhost', port: 8443, tls: { sni: 'id.example.test', caFile: '/ca.pem' } },
        ],
        upstreamCluster: 'app',
        extraHttpFilters: [{ name: 'x', typed_config: {} }],
      }),
    );
    const hcm = cfg.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    assert.equal(hcm.use_remote_address, true);
    assert.equal(hcm.codec_type, 'AUTO');
    assert.deepEqual(hcm.http_filters.map((f) => f.name), ['envoy.filters.http.wasm', 'x', 'envoy.filters.http.router']);
    const w = hcm.http_filters[0].typed_config.config;
    assert.equal(w.root_id, '', 'no root_id: Envoy\'s log prefix names the filter once');
    assert.equal(w.fail_open, false);
    assert.equal(w.vm_config.runtime, 'envoy.wasm.runtime.v8');
    assert.equal(w.vm_config.code.local.filename, '/x/tinyauth_wasm.wasm');
    assert.deepEqual(w.vm_config.environment_variables.key_values, { SECRET: 's3cret', N: '1' });
    assert.equal(w.configuration['@type'], 'type.googleapis.com/google.protobuf.StringValue');
    assert.deepEqual(JSON.parse(w.configuration.value), { issuer: 'http://id.example.test' });
    const [app, idp] = cfg.static_resources.clusters;
    assert.equal(app.type, 'STATIC');
    assert.equal(idp.type, 'STRICT_DNS');
    assert.equal(idp.transport_socket.typed_config.sni, 'id.example.test');
    assert.equal(idp.transport_socket.typed_config.common_tls_context.validation_context.trusted_ca.filename, '/ca.pem');
    assert.equal(hcm.route_config.virtual_hosts[0].routes[0].route.cluster, 'app');
    // raw string configuration is passed through verbatim
    const raw = JSON.parse(
      buildEnvoyConfig({ listenPort: 1, wasmFile: '/w', filterConfig: '{not json', clusters: [{ name: 'a', host: '127.0.0.1', port: 2 }] }),
    );
    assert.equal(raw.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.config.configuration.value, '{not json');
    assert.throws(() => buildEnvoyConfig({ listenPort: 1, wasm: false, clusters: [{ name: 'a', host: '127.0.0.1', port: 2 }], upstreamCluster: 'b' }), /not in clusters/);
  });

  test('smoke: Envoy (no wasm) proxies to the echo upstream', async (t) => {
    const echo = await startEchoUpstream();
    t.after(() => echo.close());
    const [listenPort, adminPort] = await freePorts(2);
    const config = buildEnvoyConfig({
      listenPort,
      adminPort,
      wasm: false,
      clusters: [{ name: 'app', host: '127.0.0.1', port: echo.port }],
      upstreamCluster: 'app',
    });
    const envoy = await startEnvoy({ config, name: 'envoy-smoke', t });
    assert.equal(envoy.port, listenPort);
    assert.equal(envoy.adminUrl, `http://127.0.0.1:${adminPort}`);
    const b = new Browser();
    const r = await b.get(`http://app.example.test:${listenPort}/hello?x=1`, { headers: { 'X-Dup': ['a', 'b'] } });
    assert.equal(r.status, 200);
    const echoed = r.json();
    assert.equal(echoed.method, 'GET');
    assert.equal(echoed.path, '/hello?x=1');
    assert.equal(echoed.host, `app.example.test:${listenPort}`);
    // use_remote_address: Envoy sets XFF from the peer. For a *loopback* peer Envoy 1.40
    // substitutes the host's own primary address (e.g. 192.0.2.2), not 127.0.0.1.
    const hostAddrs = ['127.0.0.1', ...Object.values(os.networkInterfaces()).flat().map((i) => i?.address)];
    // (x-envoy-external-address is 127.0.0.1 then.) Filters must use the `source.address`
    // property for the client address, not XFF.
    assert.ok(hostAddrs.includes(echoed.headers['x-forwarded-for']), `XFF ${echoed.headers['x-forwarded-for']}`);
    assert.equal(echoed.headers['user-agent'], CHROME_UA);
    assert.deepEqual(echoed.headers['x-dup'], ['a', 'b'], 'repeated headers arrive as arrays');
    assert.equal(echo.lastRequest()?.path, '/hello?x=1');
    await envoy.waitForLog(/GET \/hello\?x=1/, 5000); // stderr access log
    const stats = await envoy.stats('http.ingress_http.downstream_rq_2xx');
    assert.ok(stats['http.ingress_http.downstream_rq_2xx'] >= 1);
    await envoy.stop();
    assert.equal(envoy.proc.running, false);
  });

  test('two Envoys run concurrently (hot restart disabled)', async (t) => {
    const echo = await startEchoUpstream();
    t.after(() => echo.close());
    const ports = await freePorts(2);
    const mk = (p) =>
      buildEnvoyConfig({ listenPort: p, wasm: false, clusters: [{ name: 'app', host: '127.0.0.1', port: echo.port }] });
    const [e1, e2] = await Promise.all([
      startEnvoy({ config: mk(ports[0]), name: 'envoy-a', t, concurrency: 1 }),
      startEnvoy({ config: mk(ports[1]), name: 'envoy-b', t, concurrency: 1 }),
    ]);
    const b = new Browser();
    assert.equal((await b.get(`http://app.example.test:${e1.port}/`)).status, 200);
    assert.equal((await b.get(`http://app.example.test:${e2.port}/`)).status, 200);
    assert.notEqual(e1.adminPort, e2.adminPort, 'adminPort 0 → distinct ephemeral admin ports');
  });

  test('runEnvoyExpectFailure: invalid bootstrap → non-zero exit and logs', async (t) => {
    const res = await runEnvoyExpectFailure({
      config: JSON.stringify({ static_resources: { listeners: [{ name: 'bad', no_such_field: 1 }] } }),
      timeoutMs: 20000,
      name: 'envoy-bad-config',
      t,
    });
    assert.notEqual(res.exitCode, 0);
    assert.notEqual(res.exitCode, null);
    assert.equal(res.killed, false);
    assert.match(res.logs, /no_such_field/);
  });

  test('runEnvoyExpectFailure with untilLog kills Envoy once the line appears', async (t) => {
    const echo = await startEchoUpstream();
    t.after(() => echo.close());
    const config = buildEnvoyConfig({
      listenPort: await freePort(),
      wasm: false,
      clusters: [{ name: 'app', host: '127.0.0.1', port: echo.port }],
    });
    const res = await runEnvoyExpectFailure({ config, untilLog: /starting main dispatch loop/, name: 'envoy-untillog', t });
    assert.equal(res.killed, true);
    assert.match(res.matchedLine ?? '', /starting main dispatch loop/);
    // and when Envoy happily runs with no matching line, it throws
    await assert.rejects(
      runEnvoyExpectFailure({ config, untilLog: /never-printed/, timeoutMs: 3000, name: 'envoy-accepts', t }),
      /did not exit within 3000 ms[\s\S]*apparently accepted/,
    );
  });

  test('startEnvoy rejects with the log tail when Envoy exits before ready', async (t) => {
    await assert.rejects(
      startEnvoy({ config: '{"static_resources": {"clusters": [{"name": 1}]}}', name: 'envoy-early-exit', t }),
      /envoy-early-exit exited \(code \d+\) before becoming ready; last 40 log lines:\n[\s\S]+/,
    );
  });
});
