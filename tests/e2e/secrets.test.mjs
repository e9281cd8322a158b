// No secret in any log line (issue #20 item 10): whole logins in real Envoy,
// the successful ones and the ways they fail, with the filter logging at
// debug level, then every line Envoy wrote is searched for the client secret,
// the filter's secret, every authorization code, PKCE verifier, state and
// nonce, every access, ID and refresh token the stand-in issued, and every
// cookie value the filter set (lib/secrets.mjs says where each comes from).
//
// Envoy's access log is off here: it records request paths, and the callback's
// path carries the one-time code (see the README on access logs).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CLIENT_SECRET, SECRET, loginVia, sessionCookie, startStack } from './lib/stack.mjs';
import { assertNoSecrets, collectSecrets, pieces } from './lib/secrets.mjs';

/** A stack browser that remembers every hop of every request it makes. */
function recording(s, user, opts) {
  const b = s.browser(user, opts);
  b.hops = [];
  const request = b.request.bind(b);
  b.request = async (...args) => {
    const r = await request(...args);
    b.hops.push(...r.chain);
    return r;
  };
  return b;
}

test('no log line of whole logins, failed ones included, holds a secret, a code, a token or a cookie value', async (t) => {
  const s = await startStack(t, {
    name: 'secrets-in-logs',
    accessLog: false,
    customize: (c) => {
      // RP-initiated logout, so the ID token travels as id_token_hint too.
      c.oauth.providers.generic.logoutAtProvider = true;
      return c;
    },
  });
  t.after(() => s.stop());
  const browsers = [];
  const browser = (user, opts) => {
    const b = recording(s, user, opts);
    browsers.push(b);
    return b;
  };
  const outcomes = {};

  // 1. Success, use, RP-initiated logout (the ID token travels as id_token_hint).
  const alice = browser('alice');
  const ok = await loginVia(alice, s.url('whoami', '/'));
  assert.equal(ok.status, 200, ok.body);
  assert.equal((await alice.get(s.url('admin', '/x'))).status, 200);
  const logout = await alice.get(`${s.appUrl}/logout`);
  assert.equal(new URL(logout.url).pathname, '/logout/done');
  outcomes.success = ok.status;

  // 2. Wrong state: the provider's real code comes back with another state.
  const wrong = browser('alice', { followRedirects: false });
  const start = await wrong.get(`${s.appUrl}/api/oauth/start/generic`);
  let hop = await wrong.get(start.headers.location);
  while (hop.status >= 300 && hop.status < 400 && !hop.headers.location.includes('/api/oauth/callback/')) {
    hop = await wrong.get(new URL(hop.headers.location, hop.url).href);
  }
  const callback = new URL(hop.headers.location);
  assert.ok(callback.searchParams.get('code'), 'the provider sent a code');
  const realState = callback.searchParams.get('state');
  callback.searchParams.set('state', 'A'.repeat(realState.length));
  outcomes.badState = (await wrong.get(callback.href)).status;
  // 3. The same callback (real code, real state) from a browser without the flow cookie.
  callback.searchParams.set('state', realState);
  outcomes.noFlowCookie = (await browser(null, { followRedirects: false }).get(callback.href)).status;
  // 4. ... and from the right browser: the code was never exchanged, so this works.
  outcomes.lateButRight = (await wrong.get(callback.href, { followRedirects: true })).status;
  // 5. A code used twice: replay the callback with the spent flow cookie.
  const spent = wrong.hops.find((h) => h.setCookie.some((c) => c.startsWith('tinyauth-flow-') && !c.includes('Max-Age=0')));
  const flowCookie = spent.setCookie.find((c) => c.startsWith('tinyauth-flow-')).split(';')[0];
  const [flowName, flowValue] = [flowCookie.slice(0, flowCookie.indexOf('=')), flowCookie.slice(flowCookie.indexOf('=') + 1)];
  const replay = browser(null, { followRedirects: false });
  replay.jar.set(flowName, flowValue, { url: `${s.appUrl}/api/oauth/callback/` });
  outcomes.codeReplayed = (await replay.get(callback.href)).status;

  // 6. The provider refuses the user (error=access_denied on the callback).
  const denied = browser('alice');
  denied.jar.set('standin_deny', '1', { url: s.op.issuer });
  outcomes.providerError = (await loginVia(denied, s.url('whoami', '/'))).status;

  // 7. Token and userinfo endpoints failing after the code was sent (and,
  // for userinfo, after the access token was issued).
  for (const [endpoint, mode] of [['token', 'junk'], ['token', 'json-garbage'], ['token', '400'], ['token', '500'], ['userinfo', 'junk'], ['userinfo', '500'], ['userinfo', 'json-garbage']]) {
    s.op.clearFaults();
    s.op.setFault(endpoint, mode);
    outcomes[`${endpoint} ${mode}`] = (await loginVia(browser('bob'), s.url('whoami', '/'))).status;
  }
  s.op.clearFaults();

  // 8. A refused user (group rule) and a whitelisted-out one still log in at the provider.
  const carol = browser('carol');
  outcomes.notInGroup = (await loginVia(carol, s.url('admin', '/'))).status;
  assert.ok(sessionCookie(carol), 'carol has a session, just not for admin');

  assert.deepEqual(outcomes, {
    success: 200,
    badState: 400,
    noFlowCookie: 400,
    lateButRight: 200,
    codeReplayed: 502,
    providerError: 403,
    'token junk': 502,
    'token json-garbage': 502,
    'token 400': 502,
    'token 500': 502,
    'userinfo junk': 502,
    'userinfo 500': 502,
    'userinfo json-garbage': 502,
    notInGroup: 403,
  });

  const secrets = collectSecrets({ op: s.op, browsers, fixed: { 'the client secret': CLIENT_SECRET, "the filter's secret": SECRET } });
  const kinds = new Set(secrets.map((x) => x.what.replace(/ (tinyauth-\w+)-.*/, ' $1')));
  for (const kind of [
    'token request: code',
    'token request: code_verifier',
    'token request: authorization header',
    'token response: access_token',
    'token response: id_token',
    'token response: refresh_token',
    'userinfo request: authorization header',
    'URL parameter code',
    'URL parameter state',
    'Set-Cookie tinyauth-session',
    'Set-Cookie tinyauth-flow',
    'Set-Cookie tinyauth-idt',
  ]) {
    assert.ok(kinds.has(kind), `gathered: ${kind} (have ${[...kinds].join(', ')})`);
  }
  // Every log line of the whole run, the filter's (debug and up) and Envoy's
  // own, all flushed: Envoy is stopped first.
  await s.envoy.stop();
  const logs = s.envoy.logs();
  assert.match(logs, /\[wasm\].*login via generic failed: failed at the token endpoint/, 'the failures were logged');
  assert.match(logs, /\[debug\]\[wasm\].*login started via generic/, 'debug lines are included');
  const { lines, secrets: checked } = assertNoSecrets(logs, secrets);
  t.diagnostic(`${checked} secret values (and pieces of them) searched in ${lines} log lines`);
});

test('the search finds a secret that is in a line, whole or in pieces', () => {
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSIsIm5vbmNlIjoieHl6In0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU';
  const secrets = [{ what: 'an ID token', value: jwt }, { what: 'a code', value: 'code-0123456789abcdefghijklmnopqrstuvwxyz' }];
  assert.doesNotThrow(() => assertNoSecrets('[info] login: user="alice"\n[info] other', secrets));
  assert.throws(() => assertNoSecrets(`x\n[info] token ${jwt}\n`, secrets), /an ID token/);
  assert.throws(() => assertNoSecrets(`[info] payload ${jwt.split('.')[1]}`, secrets), /a piece of it/);
  assert.throws(() => assertNoSecrets('[info] cut code-0123456789abcdefghijklmn…', secrets), /a code/);
  assert.ok(pieces(jwt).every((p) => p === jwt || !p.startsWith('eyJhbGciOi')), 'the common JWT header is not a piece');
});
