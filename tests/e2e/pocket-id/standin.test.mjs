// Self-test of the Pocket ID stand-in: acts as a fake relying party with
// node:http(s) and a hand-rolled cookie jar. Run: node --test tests/e2e/pocket-id/

import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import * as jose from 'jose';

import { DEFAULT_USERS, startPocketId } from './standin.mjs';

// ---------------------------------------------------------------------------
// A minimal HTTP client and browser
// ---------------------------------------------------------------------------

/**
 * One HTTP exchange, no redirects followed. `hosts` maps names to an address
 * to connect to (like /etc/hosts) while keeping the Host header and TLS SNI.
 */
function request(url, {
  method = 'GET', headers = {}, body, ca, timeoutMs = 5000, hosts = {},
} = {}) {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  const hostname = u.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const req = lib.request({
      method,
      host: hosts[hostname] ?? hostname,
      port: u.port || (u.protocol === 'https:' ? 443 : 80),
      path: `${u.pathname}${u.search}`,
      headers: { host: u.host, ...headers },
      servername: u.protocol === 'https:' && !/^[\d.]+$/.test(hostname) ? hostname : undefined,
      ca,
      agent: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({
          status: res.statusCode, headers: res.headers, body: text, json, setCookies: res.headers['set-cookie'] ?? [],
        });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('client timeout'), { code: 'CLIENT_TIMEOUT' })));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const form = (obj) => new URLSearchParams(obj).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const rand = (n = 32) => crypto.randomBytes(n).toString('base64url');
const basic = (id, secret) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** A browser: a cookie jar (host + path scoped) and manual redirect following. */
class Browser {
  constructor({ ca, hosts } = {}) {
    this.ca = ca;
    this.hosts = hosts ?? {};
    this.jar = []; // { host, name, value, path, secure }
  }

  setCookie(url, name, value) {
    const { host } = new URL(url);
    this.jar = this.jar.filter((c) => !(c.host === host && c.name === name && c.path === '/'));
    if (value !== null) this.jar.push({ host, name, value, path: '/' });
  }

  cookieHeader(url) {
    const u = new URL(url);
    return this.jar
      .filter((c) => c.host === u.host && u.pathname.startsWith(c.path) && (!c.secure || u.protocol === 'https:'))
      .map((c) => `${c.name}=${c.value}`).join('; ');
  }

  store(url, setCookies) {
    const { host } = new URL(url);
    for (const line of setCookies) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let cookiePath = '/';
      let expired = value === '';
      let secure = false;
      for (const a of attrs) {
        const [k, v] = a.split('=');
        if (k.toLowerCase() === 'path') cookiePath = v;
        if (k.toLowerCase() === 'secure') secure = true;
        if (k.toLowerCase() === 'expires' && new Date(v) < new Date()) expired = true;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
      }
      this.jar = this.jar.filter((c) => !(c.host === host && c.name === name && c.path === cookiePath));
      if (!expired) this.jar.push({ host, name, value, path: cookiePath, secure });
    }
  }

  async fetch(url, opts = {}) {
    const cookie = this.cookieHeader(url);
    const res = await request(url, {
      ca: this.ca, hosts: this.hosts, ...opts, headers: { ...(cookie ? { cookie } : {}), ...opts.headers },
    });
    this.store(url, res.setCookies);
    return res;
  }

  /**
   * Follow redirects until one points at `stopAt` (the RP), or a non-redirect
   * answer. Returns the last response plus `location` and `url`.
   */
  async follow(url, { stopAt, ...opts } = {}) {
    let current = url;
    let res = await this.fetch(current, opts);
    for (let hops = 0; hops < 10; hops += 1) {
      if (![301, 302, 303, 307, 308].includes(res.status)) return { ...res, url: current };
      const location = new URL(res.headers.location, current).href;
      if (stopAt && location.startsWith(stopAt)) return { ...res, url: current, location };
      current = location;
      res = await this.fetch(current);
    }
    throw new Error('too many redirects');
  }
}

// ---------------------------------------------------------------------------
// RP-side helpers
// ---------------------------------------------------------------------------

const CONF = {
  client_id: 'tinyauth',
  client_secret: 'tinyauth-secret-0123456789',
  redirect_uris: ['http://auth.example.test:8080/api/oauth/callback/generic'],
  post_logout_redirect_uris: ['http://auth.example.test:8080/logged-out'],
};
const POST_CLIENT = {
  client_id: 'post-client',
  client_secret: 'post-secret-0123456789',
  token_endpoint_auth_method: 'client_secret_post',
  redirect_uris: ['http://rp.example.test/cb'],
};
const PUBLIC_CLIENT = {
  client_id: 'spa',
  token_endpoint_auth_method: 'none',
  redirect_uris: ['http://spa.example.test/cb'],
};
const CLIENTS = [CONF, POST_CLIENT, PUBLIC_CLIENT];

/** Start an authorization request and follow it to the RP callback. */
async function authorize(browser, op, client, {
  scope = 'openid profile email groups', state = rand(16), nonce = rand(16), pkce = true, method = 'GET',
} = {}) {
  const verifier = pkce ? rand(32) : undefined; // 43 chars
  const params = {
    client_id: client.client_id,
    redirect_uri: client.redirect_uris[0],
    response_type: 'code',
    scope,
  };
  // null means "do not send" (undefined would pick the default)
  if (state !== null) params.state = state;
  if (nonce !== null) params.nonce = nonce;
  if (pkce) {
    params.code_challenge = crypto.hash('sha256', verifier, 'base64url');
    params.code_challenge_method = 'S256';
  }
  const res = method === 'GET'
    ? await browser.follow(`${op.issuer}/authorize?${form(params)}`, { stopAt: client.redirect_uris[0] })
    : await browser.follow(`${op.issuer}/authorize`, {
      stopAt: client.redirect_uris[0], method: 'POST', headers: FORM, body: form(params),
    });
  const callback = res.location ? new URL(res.location) : undefined;
  return {
    res, callback, state, nonce, verifier,
  };
}

/** Redeem a code; `auth` picks client_secret_basic, client_secret_post or none. */
async function redeem(op, client, code, verifier, { auth = 'basic', extra = {} } = {}) {
  const body = { grant_type: 'authorization_code', code, redirect_uri: client.redirect_uris[0], ...extra };
  if (verifier) body.code_verifier = verifier;
  const headers = { ...FORM };
  if (auth === 'basic') headers.authorization = basic(client.client_id, client.client_secret);
  if (auth === 'post') Object.assign(body, { client_id: client.client_id, client_secret: client.client_secret });
  if (auth === 'none') body.client_id = client.client_id;
  return request(`${op.issuer}/api/oidc/token`, { method: 'POST', headers, body: form(body) });
}

async function verifyIdToken(op, idToken, client, opts = {}) {
  const jwks = (await request(`${op.issuer}/.well-known/jwks.json`, opts)).json;
  return jose.jwtVerify(idToken, jose.createLocalJWKSet(jwks), { issuer: op.issuer, audience: client.client_id });
}

const userinfo = (op, accessToken, opts = {}) => request(`${op.issuer}/api/oidc/userinfo`, {
  ...opts, headers: { authorization: `Bearer ${accessToken}` },
});

/** Full login of `username` as a fresh browser; returns tokens and claims. */
async function loginAs(op, username, client = CONF, opts = {}) {
  const browser = opts.browser ?? new Browser();
  browser.setCookie(op.issuer, 'standin_user', username);
  const flow = await authorize(browser, op, client, opts);
  assert.ok(flow.callback, `expected a redirect to the RP, got ${flow.res.status}: ${flow.res.body.slice(0, 200)}`);
  const code = flow.callback.searchParams.get('code');
  assert.ok(code, `no code in ${flow.callback}`);
  const token = await redeem(op, client, code, flow.verifier, { auth: opts.auth ?? 'basic' });
  assert.equal(token.status, 200, token.body);
  const idt = await verifyIdToken(op, token.json.id_token, client);
  const ui = await userinfo(op, token.json.access_token);
  assert.equal(ui.status, 200, ui.body);
  return {
    browser, flow, token: token.json, idToken: idt.payload, idHeader: idt.protectedHeader, userinfo: ui.json,
  };
}

const alice = DEFAULT_USERS.find((u) => u.username === 'alice');

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

describe('Pocket ID stand-in', () => {
  let op;
  before(async () => { op = await startPocketId({ clients: CLIENTS }); });
  after(async () => { await op?.close(); });

  it('exports the documented test users', () => {
    assert.deepEqual(DEFAULT_USERS.map((u) => u.username), ['alice', 'bob', 'carol', 'dave', 'erin']);
    assert.equal(alice.email, 'alice@example.test');
    assert.deepEqual([...alice.groups], ['admins', 'users']);
    const dave = DEFAULT_USERS.find((u) => u.username === 'dave');
    assert.equal(dave.email, undefined);
    assert.match(alice.sub, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('serves a Pocket ID shaped discovery document', async () => {
    const res = await request(`${op.issuer}/.well-known/openid-configuration`);
    assert.equal(res.status, 200);
    const d = res.json;
    assert.equal(d.issuer, op.issuer);
    assert.ok(!op.issuer.endsWith('/'));
    assert.equal(d.authorization_endpoint, `${op.issuer}/authorize`);
    assert.equal(d.token_endpoint, `${op.issuer}/api/oidc/token`);
    assert.equal(d.userinfo_endpoint, `${op.issuer}/api/oidc/userinfo`);
    assert.equal(d.jwks_uri, `${op.issuer}/.well-known/jwks.json`);
    assert.equal(d.end_session_endpoint, `${op.issuer}/api/oidc/end-session`);
    assert.equal(d.introspection_endpoint, `${op.issuer}/api/oidc/introspect`);
    assert.deepEqual(d.id_token_signing_alg_values_supported, ['RS256']);
    assert.deepEqual(d.scopes_supported, ['openid', 'profile', 'email', 'groups', 'offline_access']);
    assert.deepEqual(d.response_types_supported, ['code']);
    assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
    assert.equal(d.authorization_response_iss_parameter_supported, true);
    for (const c of ['sub', 'groups', 'email', 'email_verified', 'preferred_username', 'display_name', 'picture']) {
      assert.ok(d.claims_supported.includes(c), c);
    }
    for (const m of ['client_secret_basic', 'client_secret_post', 'none']) {
      assert.ok(d.token_endpoint_auth_methods_supported.includes(m), m);
    }
    // Request host does not leak into discovery (Pocket ID uses APP_URL).
    const viaOtherHost = await request(`${op.url}/.well-known/openid-configuration`, {
      headers: { host: 'evil.example.test', 'x-forwarded-proto': 'https' },
    });
    assert.equal(viaOtherHost.json.token_endpoint, `${op.issuer}/api/oidc/token`);
    const jwks = await request(`${op.issuer}/.well-known/jwks.json`);
    assert.equal(jwks.json.keys.length, 1);
    const [key] = jwks.json.keys;
    assert.equal(key.use, 'sig');
    assert.equal(key.alg, 'RS256');
    assert.ok(key.kid);
    assert.equal(key.d, undefined, 'no private parts in the JWKS');
  });

  it('runs the code flow with PKCE S256 + client_secret_basic (alice)', async () => {
    op.clearRequests();
    const r = await loginAs(op, 'alice');
    // Callback: code, state, iss (RFC 9207)
    assert.equal(r.flow.callback.searchParams.get('state'), r.flow.state);
    assert.equal(r.flow.callback.searchParams.get('iss'), op.issuer);
    // Token response
    assert.equal(r.token.token_type, 'bearer');
    assert.ok(r.token.refresh_token, 'refresh token always issued');
    assert.ok(r.token.access_token);
    assert.equal(r.token.access_token.split('.').length, 1, 'opaque access token');
    // ID token
    assert.equal(r.idHeader.alg, 'RS256');
    assert.equal(r.idHeader.kid, op.currentKid);
    assert.equal(r.idToken.sub, alice.sub);
    assert.equal(r.idToken.nonce, r.flow.nonce);
    assert.deepEqual(r.idToken.groups, ['admins', 'users']);
    assert.equal(r.idToken.email, 'alice@example.test');
    assert.equal(r.idToken.email_verified, true);
    assert.equal(r.idToken.preferred_username, 'alice');
    assert.equal(r.idToken.type, 'id-token');
    assert.deepEqual(r.idToken.amr, ['phr']);
    assert.ok(r.idToken.jti);
    assert.ok(r.idToken.auth_time);
    // Userinfo
    assert.deepEqual(r.userinfo, {
      sub: alice.sub,
      given_name: 'Alice',
      family_name: 'Anderson',
      name: 'Alice Anderson',
      display_name: 'Alice Anderson',
      preferred_username: 'alice',
      picture: `${op.issuer}/api/users/${alice.sub}/profile-picture.png`,
      email: 'alice@example.test',
      email_verified: true,
      groups: ['admins', 'users'],
    });
    const pic = await request(r.userinfo.picture);
    assert.equal(pic.status, 200);
    // The request log shows what the RP sent.
    const authz = op.requests.find((x) => x.endpoint === 'authorize');
    assert.equal(authz.query.code_challenge_method, 'S256');
    assert.ok(authz.query.state.length >= 8);
    assert.ok(authz.query.nonce.length >= 8);
    const tok = op.requests.find((x) => x.endpoint === 'token');
    assert.equal(tok.method, 'POST');
    assert.equal(tok.headers.authorization, basic(CONF.client_id, CONF.client_secret));
    assert.equal(tok.form.grant_type, 'authorization_code');
    assert.equal(tok.form.code_verifier, r.flow.verifier);
    assert.equal(tok.form.client_secret, undefined);
    const ui = op.requests.find((x) => x.endpoint === 'userinfo');
    assert.equal(ui.headers.authorization, `Bearer ${r.token.access_token}`);
  });

  it('accepts client_secret_post, and basic for a client registered with post', async () => {
    const r = await loginAs(op, 'alice', POST_CLIENT, { auth: 'post' });
    assert.equal(r.token.token_type, 'bearer');
    assert.deepEqual(r.userinfo.groups, ['admins', 'users']);
    const r2 = await loginAs(op, 'bob', POST_CLIENT, { auth: 'basic' });
    assert.equal(r2.userinfo.preferred_username, 'bob');
    // ...and the other way round: a basic-registered client may use post.
    const r3 = await loginAs(op, 'bob', CONF, { auth: 'post' });
    assert.equal(r3.userinfo.preferred_username, 'bob');
  });

  it('rejects a wrong client secret with 401 invalid_client', async () => {
    const browser = new Browser();
    browser.setCookie(op.issuer, 'standin_user', 'alice');
    const flow = await authorize(browser, op, CONF);
    const res = await redeem(op, { ...CONF, client_secret: 'wrong' }, flow.callback.searchParams.get('code'), flow.verifier);
    assert.equal(res.status, 401);
    assert.equal(res.json.error, 'invalid_client');
  });

  it('runs the code flow for a public client with PKCE only, and requires PKCE there', async () => {
    const r = await loginAs(op, 'alice', PUBLIC_CLIENT, { auth: 'none' });
    assert.equal(r.token.token_type, 'bearer');
    assert.equal(r.idToken.aud, 'spa');

    const browser = new Browser();
    browser.setCookie(op.issuer, 'standin_user', 'alice');
    const flow = await authorize(browser, op, PUBLIC_CLIENT, { pkce: false });
    assert.equal(flow.callback.searchParams.get('error'), 'invalid_request');
  });

  it('rejects a malformed code_verifier and a verifier for a code without challenge', async () => {
    const browser = new Browser();
    browser.setCookie(op.issuer, 'standin_user', 'alice');
    const flow = await authorize(browser, op, CONF);
    const res = await redeem(op, CONF, flow.callback.searchParams.get('code'), 'too-short');
    assert.equal(res.status, 400);
    assert.equal(res.json.error, 'invalid_request');

    const flow2 = await authorize(browser, op, CONF, { pkce: false });
    const res2 = await redeem(op, CONF, flow2.callback.searchParams.get('code'), rand(32));
    assert.equal(res2.status, 400);
    assert.equal(res2.json.error, 'invalid_grant');
  });

  it('accepts POST /authorize', async () => {
    op.clearRequests();
    const browser = new Browser();
    browser.setCookie(op.issuer, 'standin_user', 'bob');
    const flow = await authorize(browser, op, CONF, { method: 'POST' });
    assert.ok(flow.callback?.searchParams.get('code'), flow.res.body);
    assert.equal(flow.callback.searchParams.get('state'), flow.state);
    const entry = op.requests.find((x) => x.endpoint === 'authorize' && x.method === 'POST');
    assert.equal(entry.form.state, flow.state);
  });

  it('maps claims per user and scope like Pocket ID', async () => {
    const carol = await loginAs(op, 'carol');
    assert.deepEqual(carol.userinfo.groups, []);
    assert.deepEqual(carol.idToken.groups, []);

    const dave = await loginAs(op, 'dave');
    assert.equal(dave.userinfo.preferred_username, 'dave');
    assert.deepEqual(dave.userinfo.groups, ['users']);
    for (const claims of [dave.userinfo, dave.idToken]) {
      assert.ok(!('email' in claims), 'dave has no email claim');
      assert.ok(!('email_verified' in claims), 'dave has no email_verified claim');
    }

    const erin = await loginAs(op, 'erin');
    assert.equal(erin.userinfo.email_verified, false);
    assert.deepEqual(erin.userinfo.groups, ['admins']);

    const noGroups = await loginAs(op, 'alice', CONF, { scope: 'openid profile email' });
    assert.ok(!('groups' in noGroups.userinfo), 'no groups claim without the groups scope');
    assert.ok(!('groups' in noGroups.idToken));
    assert.equal(noGroups.userinfo.email, 'alice@example.test');

    const openidOnly = await loginAs(op, 'alice', CONF, { scope: 'openid' });
    assert.deepEqual(Object.keys(openidOnly.userinfo), ['sub']);
  });

  it('rejects a missing or short state at /authorize with invalid_state', async () => {
    const browser = new Browser();
    browser.setCookie(op.issuer, 'standin_user', 'alice');
    const short = await authorize(browser, op, CONF, { state: 'abc1234' });
    assert.equal(short.callback.searchParams.get('error'), 'invalid_state');
    assert.equal(short.callback.searchParams.get('state'), 'abc1234');
    assert.equal(short.callback.searchParams.get('code'), null);
    const missing = await authorize(browser, op, CONF, { state: null });
    assert.equal(missing.callback.searchParams.get('error'), 'invalid_state');
    const ok = await authorize(browser, op, CONF, { state: '12345678' });
    assert.ok(ok.callback.searchParams.get('code'));
  });

  it('rejects a short nonce at the token endpoint with insufficient_entropy', async () => {
    const browser = new Browser();
    browser.setCookie(op.issuer, 'standin_user', 'alice');
    const flow = await authorize(browser, op, CONF, { nonce: 'short' });
    const code = flow.callback.searchParams.get('code');
    assert.ok(code);
    const res = await redeem(op, CONF, code, flow.verifier);
    assert.equal(res.status, 400);
    assert.equal(res.json.error, 'insufficient_entropy');
    // No nonce at all is fine.
    const none = await authorize(browser, op, CONF, { nonce: null });
    const res2 = await redeem(op, CONF, none.callback.searchParams.get('code'), none.verifier);
    assert.equal(res2.status, 200, res2.body);
    assert.equal(JSON.parse(Buffer.from(res2.json.id_token.split('.')[1], 'base64url')).nonce, undefined);
  });

  it('refreshes tokens (rotating) with lowercase bearer and a new id_token', async () => {
    const r = await loginAs(op, 'alice');
    const res = await request(`${op.issuer}/api/oidc/token`, {
      method: 'POST',
      headers: { ...FORM, authorization: basic(CONF.client_id, CONF.client_secret) },
      body: form({ grant_type: 'refresh_token', refresh_token: r.token.refresh_token }),
    });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.json.token_type, 'bearer');
    assert.ok(res.json.id_token);
    assert.ok(res.json.refresh_token && res.json.refresh_token !== r.token.refresh_token);
  });

  it("issues refresh tokens of Pocket ID's size and applies admin changes at the next refresh", async () => {
    const refresh = (token) => request(`${op.issuer}/api/oidc/token`, {
      method: 'POST',
      headers: { ...FORM, authorization: basic(CONF.client_id, CONF.client_secret) },
      body: form({ grant_type: 'refresh_token', refresh_token: token }),
    });
    const r = await loginAs(op, 'bob');
    assert.equal(r.token.refresh_token.length, 94, 'fosite ory_rt_<43>.<43> is 94 characters');
    op.setUserGroups('bob', ['users', 'ops']);
    try {
      const res = await refresh(r.token.refresh_token);
      assert.equal(res.status, 200, res.body);
      assert.deepEqual((await userinfo(op, res.json.access_token)).json.groups, ['users', 'ops']);
      op.setUserDisabled('bob');
      const refused = await refresh(res.json.refresh_token);
      assert.equal(refused.status, 400);
      assert.equal(refused.json.error, 'invalid_grant');
    } finally {
      op.setUserGroups('bob', ['users']);
      op.setUserDisabled('bob', false);
    }
  });

  it('answers userinfo with 401 for a bad token, and introspects good ones', async () => {
    const bad = await userinfo(op, 'not-a-token');
    assert.equal(bad.status, 401);
    assert.match(bad.headers['www-authenticate'] ?? '', /Bearer/);
    const none = await request(`${op.issuer}/api/oidc/userinfo`);
    assert.equal(none.status, 401);

    const r = await loginAs(op, 'bob');
    const post = await request(`${op.issuer}/api/oidc/userinfo`, {
      method: 'POST', headers: { authorization: `Bearer ${r.token.access_token}` },
    });
    assert.equal(post.status, 200);
    assert.equal(post.json.preferred_username, 'bob');
    const intro = await request(`${op.issuer}/api/oidc/introspect`, {
      method: 'POST',
      headers: { ...FORM, authorization: basic(CONF.client_id, CONF.client_secret) },
      body: form({ token: r.token.access_token }),
    });
    assert.equal(intro.status, 200);
    assert.equal(intro.json.active, true);
    assert.equal(intro.json.sub, r.idToken.sub);
  });

  it('shows a login page without standin_user, and the page form logs in', async () => {
    const browser = new Browser();
    const flow = await authorize(browser, op, CONF);
    assert.equal(flow.callback, undefined);
    assert.equal(flow.res.status, 200);
    assert.match(flow.res.body, /Sign in to Pocket ID \(stand-in\)/);
    for (const u of DEFAULT_USERS) assert.match(flow.res.body, new RegExp(`name="user" value="${u.username}"`));
    const action = /<form method="post" action="([^"]+)"/.exec(flow.res.body)[1];
    const res = await browser.follow(new URL(action, flow.res.url).href, {
      stopAt: CONF.redirect_uris[0], method: 'POST', headers: FORM, body: form({ user: 'bob' }),
    });
    const cb = new URL(res.location);
    assert.equal(cb.searchParams.get('state'), flow.state);
    const token = await redeem(op, CONF, cb.searchParams.get('code'), flow.verifier);
    const ui = await userinfo(op, token.json.access_token);
    assert.equal(ui.json.preferred_username, 'bob');
  });

  it('reuses the provider session: the second authorize needs no cookie and no page', async () => {
    const browser = new Browser();
    browser.setCookie(op.issuer, 'standin_user', 'erin');
    await authorize(browser, op, CONF);
    browser.setCookie(op.issuer, 'standin_user', null);
    const again = await authorize(browser, op, CONF);
    assert.ok(again.callback?.searchParams.get('code'), 'auto-login from the session');
    const token = await redeem(op, CONF, again.callback.searchParams.get('code'), again.verifier);
    assert.equal((await userinfo(op, token.json.access_token)).json.preferred_username, 'erin');
    assert.ok(op.sessions('erin').length >= 1);
  });

  it('shows an error page (no redirect) for an unknown standin_user', async () => {
    const browser = new Browser();
    browser.setCookie(op.issuer, 'standin_user', 'mallory');
    const flow = await authorize(browser, op, CONF);
    assert.equal(flow.callback, undefined);
    assert.equal(flow.res.status, 400);
    assert.match(flow.res.body, /Unknown user/);
  });

  it('sends access_denied to the RP for standin_deny=1', async () => {
    const browser = new Browser();
    browser.setCookie(op.issuer, 'standin_deny', '1');
    const flow = await authorize(browser, op, CONF);
    assert.equal(flow.callback.searchParams.get('error'), 'access_denied');
    assert.equal(flow.callback.searchParams.get('state'), flow.state);
    assert.equal(flow.callback.searchParams.get('iss'), op.issuer);
  });

  describe('end session', () => {
    it('with a valid hint: ends the session and redirects to the logout callback with state', async () => {
      const r = await loginAs(op, 'bob');
      const { browser } = r;
      assert.ok(op.sessions('bob').length >= 1);
      const before = op.sessions('bob').length;
      browser.setCookie(op.issuer, 'standin_user', null); // from now on only the session could log bob in

      const res = await browser.fetch(`${op.issuer}/api/oidc/end-session?${form({
        id_token_hint: r.token.id_token,
        post_logout_redirect_uri: CONF.post_logout_redirect_uris[0],
        state: 'logout-state-123',
      })}`);
      assert.equal(res.status, 302);
      const loc = new URL(res.headers.location);
      assert.equal(`${loc.origin}${loc.pathname}`, CONF.post_logout_redirect_uris[0]);
      assert.equal(loc.searchParams.get('state'), 'logout-state-123');
      const call = op.endSessionCalls.at(-1);
      assert.equal(call.hintValid, true);
      assert.equal(call.sessionEnded, true);
      assert.equal(call.clientId, CONF.client_id);
      assert.equal(call.sub, r.idToken.sub);
      assert.equal(op.sessions('bob').length, before - 1);

      // The next authorize from that browser needs a login again.
      const again = await authorize(browser, op, CONF);
      assert.equal(again.callback, undefined, 'no silent login after logout');
      assert.match(again.res.body, /Sign in to Pocket ID/);
      // Tokens of that client were revoked.
      const refresh = await request(`${op.issuer}/api/oidc/token`, {
        method: 'POST',
        headers: { ...FORM, authorization: basic(CONF.client_id, CONF.client_secret) },
        body: form({ grant_type: 'refresh_token', refresh_token: r.token.refresh_token }),
      });
      assert.equal(refresh.status, 400);
      assert.equal(refresh.json.error, 'invalid_grant');
      assert.equal((await userinfo(op, r.token.access_token)).status, 401);
    });

    it('works by POST and defaults to the first registered logout callback', async () => {
      const r = await loginAs(op, 'alice');
      const res = await r.browser.fetch(`${op.issuer}/api/oidc/end-session`, {
        method: 'POST', headers: FORM, body: form({ id_token_hint: r.token.id_token, client_id: CONF.client_id }),
      });
      assert.equal(res.status, 302);
      assert.equal(res.headers.location, CONF.post_logout_redirect_uris[0]);
      assert.equal(op.endSessionCalls.at(-1).form.id_token_hint, r.token.id_token);
    });

    it('with a missing, invalid or foreign hint: redirects to <issuer>/logout', async () => {
      const r = await loginAs(op, 'alice');
      const cases = [
        {},
        { id_token_hint: 'garbage' },
        { id_token_hint: r.token.id_token, client_id: 'someone-else' },
        { id_token_hint: r.token.id_token, post_logout_redirect_uri: 'http://evil.example.test/' },
        { id_token_hint: r.token.access_token },
      ];
      for (const params of cases) {
        const res = await r.browser.fetch(`${op.issuer}/api/oidc/end-session?${form(params)}`);
        assert.equal(res.status, 302);
        assert.equal(res.headers.location, `${op.issuer}/logout`, JSON.stringify(params));
        assert.ok(op.endSessionCalls.at(-1).error);
        assert.equal(op.endSessionCalls.at(-1).sessionEnded, false);
      }
      assert.equal(op.endSessionCalls.at(-4).hintValid, false);
      const logoutPage = await r.browser.fetch(`${op.issuer}/logout`);
      assert.equal(logoutPage.status, 200);
      assert.match(logoutPage.body, /Sign out/);
    });
  });

  describe('faults', () => {
    const targets = {
      token: () => request(`${op.issuer}/api/oidc/token`, {
        method: 'POST', headers: { ...FORM, authorization: basic(CONF.client_id, CONF.client_secret) },
        body: form({ grant_type: 'authorization_code', code: 'x', redirect_uri: CONF.redirect_uris[0] }), timeoutMs: 1000,
      }),
      userinfo: () => request(`${op.issuer}/api/oidc/userinfo`, { headers: { authorization: 'Bearer x' }, timeoutMs: 1000 }),
      discovery: () => request(`${op.issuer}/.well-known/openid-configuration`, { timeoutMs: 1000 }),
      jwks: () => request(`${op.issuer}/.well-known/jwks.json`, { timeoutMs: 1000 }),
    };
    after(() => op.clearFaults());

    for (const [endpoint, call] of Object.entries(targets)) {
      it(`${endpoint}: 500, junk, json-garbage, 400, drop, slow`, async () => {
        op.setFault(endpoint, '500');
        let res = await call();
        assert.equal(res.status, 500);
        assert.equal(res.json.error, 'server_error');

        op.setFault(endpoint, 'junk');
        res = await call();
        assert.equal(res.status, 200);
        assert.equal(res.body, '<html>oops</html>');
        assert.equal(res.json, undefined);

        op.faults[endpoint] = 'json-garbage'; // the object itself is writable too
        res = await call();
        assert.equal(res.status, 200);
        assert.deepEqual(res.json, { foo: 1 });

        op.setFault(endpoint, '400');
        res = await call();
        assert.equal(res.status, 400);
        assert.equal(res.json.error, 'invalid_grant');

        op.setFault(endpoint, 'drop');
        await assert.rejects(call(), (err) => ['ECONNRESET', 'ECONNREFUSED'].includes(err.code) || /socket hang up/.test(err.message));

        op.setFault(endpoint, 'slow', { ms: 60_000 });
        const t0 = Date.now();
        await assert.rejects(call(), (err) => err.code === 'CLIENT_TIMEOUT');
        assert.ok(Date.now() - t0 >= 900);

        op.clearFaults();
        res = await call();
        if (endpoint === 'discovery' || endpoint === 'jwks') assert.equal(res.status, 200);
        else assert.ok([400, 401].includes(res.status), `normal error for a bogus request, got ${res.status}`);
      });
    }

    it('slow delays a real answer; a one-shot fault clears itself; faulted token forms are logged', async () => {
      op.setFault('discovery', 'slow', { ms: 300 });
      const t0 = Date.now();
      const res = await targets.discovery();
      assert.equal(res.status, 200);
      assert.ok(Date.now() - t0 >= 280);
      op.clearFaults();

      op.setFault('token', '500', { times: 1 });
      op.clearRequests();
      assert.equal((await targets.token()).status, 500);
      assert.equal(op.faults.token, null);
      assert.equal((await targets.token()).status, 400);
      assert.equal(op.requests[0].form.code, 'x');
      assert.equal(op.requests[0].fault, '500');

      assert.throws(() => op.setFault('token', 'bogus'), TypeError);
      assert.throws(() => op.setFault('nope', '500'), TypeError);
    });
  });

  it('rotates keys: new kid signs, the old key stays in the JWKS', async () => {
    const first = await loginAs(op, 'alice');
    const oldKid = op.currentKid;
    assert.equal(first.idHeader.kid, oldKid);

    const rotated = await op.rotateKey();
    assert.notEqual(rotated.kid, oldKid);
    assert.equal(op.currentKid, rotated.kid);
    const jwks = (await request(`${op.issuer}/.well-known/jwks.json`)).json;
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [oldKid, rotated.kid].sort());

    // The browser's session survived the rebuild: no cookie needed.
    first.browser.setCookie(op.issuer, 'standin_user', null);
    const flow = await authorize(first.browser, op, CONF);
    assert.ok(flow.callback?.searchParams.get('code'), 'session kept across rotation');
    const token = await redeem(op, CONF, flow.callback.searchParams.get('code'), flow.verifier);
    assert.equal(jose.decodeProtectedHeader(token.json.id_token).kid, rotated.kid);
    await verifyIdToken(op, token.json.id_token, CONF);
    await verifyIdToken(op, first.token.id_token, CONF); // old token still verifies

    // Change algorithm and drop the old keys.
    const ec = await op.rotateKey({ alg: 'ES256', keepOld: false });
    const jwks2 = (await request(`${op.issuer}/.well-known/jwks.json`)).json;
    assert.deepEqual(jwks2.keys.map((k) => k.kid), [ec.kid]);
    const disc = (await request(`${op.issuer}/.well-known/openid-configuration`)).json;
    assert.deepEqual(disc.id_token_signing_alg_values_supported, ['ES256']);
    const r = await loginAs(op, 'bob');
    assert.equal(r.idHeader.alg, 'ES256');
    assert.equal(r.idHeader.kid, ec.kid);
    await assert.rejects(verifyIdToken(op, first.token.id_token, CONF));
  });

  it('close() stops listening, start() resumes on the same port with state kept', async () => {
    const r = await loginAs(op, 'carol');
    const { port } = op;
    await op.close();
    await assert.rejects(request(`${op.issuer}/.well-known/openid-configuration`), (err) => err.code === 'ECONNREFUSED');
    await op.start();
    assert.equal(op.port, port);
    const res = await request(`${op.issuer}/.well-known/openid-configuration`);
    assert.equal(res.status, 200);
    assert.equal((await userinfo(op, r.token.access_token)).status, 200, 'tokens survive a restart');
  });
});

describe('Pocket ID stand-in options', () => {
  for (const alg of ['ES256', 'ES384', 'PS256', 'EdDSA']) {
    it(`signs ID tokens with ${alg}`, async () => {
      const op = await startPocketId({ clients: [CONF], signingAlg: alg });
      try {
        const disc = (await request(`${op.issuer}/.well-known/openid-configuration`)).json;
        assert.deepEqual(disc.id_token_signing_alg_values_supported, [alg]);
        const jwk = (await request(`${op.issuer}/.well-known/jwks.json`)).json.keys[0];
        assert.equal(jwk.alg, alg);
        assert.equal(jwk.use, 'sig');
        const r = await loginAs(op, 'alice');
        assert.equal(r.idHeader.alg, alg);
        assert.equal(r.idHeader.kid, jwk.kid);
        // End session verifies hints with the same key.
        const res = await r.browser.fetch(`${op.issuer}/api/oidc/end-session?${form({ id_token_hint: r.token.id_token })}`);
        assert.equal(res.headers.location, CONF.post_logout_redirect_uris[0]);
      } finally {
        await op.close();
      }
    });
  }

  it('builds the issuer from issuerHost and advertises internalBaseUrl for back-channel endpoints', async () => {
    const op = await startPocketId({
      clients: [CONF], issuerHost: 'id.example.test', internalBaseUrl: 'http://pocket-id.internal:1411/',
    });
    try {
      assert.equal(op.issuer, `http://id.example.test:${op.port}`);
      const hosts = { 'id.example.test': '127.0.0.1' };
      const d = (await request(`${op.issuer}/.well-known/openid-configuration`, { hosts })).json;
      assert.equal(d.issuer, op.issuer);
      assert.equal(d.authorization_endpoint, `${op.issuer}/authorize`);
      assert.equal(d.end_session_endpoint, `${op.issuer}/api/oidc/end-session`);
      assert.equal(d.token_endpoint, 'http://pocket-id.internal:1411/api/oidc/token');
      assert.equal(d.userinfo_endpoint, 'http://pocket-id.internal:1411/api/oidc/userinfo');
      assert.equal(d.introspection_endpoint, 'http://pocket-id.internal:1411/api/oidc/introspect');
      assert.equal(d.jwks_uri, 'http://pocket-id.internal:1411/.well-known/jwks.json');

      const browser = new Browser({ hosts });
      browser.setCookie(op.issuer, 'standin_user', 'alice');
      const flow = await authorize(browser, op, CONF);
      assert.equal(flow.callback.searchParams.get('iss'), op.issuer);
      const token = await request(`${op.url}/api/oidc/token`, {
        method: 'POST',
        headers: { ...FORM, authorization: basic(CONF.client_id, CONF.client_secret) },
        body: form({
          grant_type: 'authorization_code', code: flow.callback.searchParams.get('code'),
          redirect_uri: CONF.redirect_uris[0], code_verifier: flow.verifier,
        }),
      });
      assert.equal(token.status, 200, token.body);
      assert.equal(jose.decodeJwt(token.json.id_token).iss, op.issuer);
    } finally {
      await op.close();
    }
  });

  it('close() does not wait for a request held by the slow fault (default slowMs)', async () => {
    const op = await startPocketId({});
    op.setFault('jwks', 'slow');
    const pending = request(`${op.url}/.well-known/jwks.json`, { timeoutMs: 60_000 });
    await new Promise((r) => { setTimeout(r, 200); });
    const t0 = Date.now();
    await op.close();
    assert.ok(Date.now() - t0 < 2000, 'close() returned promptly');
    await assert.rejects(pending);
  });

  it('accepts issuer as a function of the port', async () => {
    const op = await startPocketId({ issuer: (p) => `http://localhost:${p}/` });
    try {
      assert.equal(op.issuer, `http://localhost:${op.port}`);
    } finally {
      await op.close();
    }
  });

  it('marks cookies Secure behind a TLS-terminating proxy (X-Forwarded-Proto)', async () => {
    const op = await startPocketId({ clients: [CONF], issuer: 'https://id.example.test' });
    try {
      const browser = new Browser();
      browser.setCookie(op.url, 'standin_user', 'alice');
      const params = form({
        client_id: CONF.client_id, redirect_uri: CONF.redirect_uris[0], response_type: 'code', scope: 'openid', state: rand(),
      });
      const res = await browser.fetch(`${op.url}/authorize?${params}`, {
        headers: { 'x-forwarded-proto': 'https', host: 'id.example.test' },
      });
      assert.equal(res.status, 303);
      assert.ok(res.setCookies.length > 0);
      for (const c of res.setCookies) assert.match(c, /;\s*secure/i, c);
      const d = (await request(`${op.url}/.well-known/openid-configuration`)).json;
      assert.equal(d.authorization_endpoint, 'https://id.example.test/authorize');
    } finally {
      await op.close();
    }
  });

  it('serves HTTPS with a self-signed certificate', async () => {
    let openssl;
    try {
      openssl = execFileSync('sh', ['-c', 'command -v openssl'], { encoding: 'utf8' }).trim();
    } catch { /* missing */ }
    assert.ok(openssl, 'openssl CLI not found: install it with `apt-get install -y openssl`');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-tls-'));
    try {
      const keyFile = path.join(dir, 'key.pem');
      const certFile = path.join(dir, 'cert.pem');
      execFileSync(openssl, [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=id.example.test',
        '-addext', 'subjectAltName=DNS:id.example.test,IP:127.0.0.1',
      ], { stdio: 'pipe' });
      const key = fs.readFileSync(keyFile, 'utf8');
      const cert = fs.readFileSync(certFile, 'utf8');
      const op = await startPocketId({ clients: [CONF], tls: { key, cert }, issuerHost: 'id.example.test' });
      try {
        assert.equal(op.issuer, `https://id.example.test:${op.port}`);
        assert.match(op.url, /^https:\/\/127\.0\.0\.1:/);
        const hosts = { 'id.example.test': '127.0.0.1' };
        const d = (await request(`${op.issuer}/.well-known/openid-configuration`, { ca: cert, hosts })).json;
        assert.equal(d.token_endpoint, `${op.issuer}/api/oidc/token`);
        await assert.rejects(request(`${op.issuer}/.well-known/jwks.json`, { hosts }), 'untrusted without the CA');

        const browser = new Browser({ ca: cert, hosts });
        browser.setCookie(op.issuer, 'standin_user', 'alice');
        const flow = await authorize(browser, op, CONF);
        assert.ok(flow.callback?.searchParams.get('code'), flow.res.body);
        const token = await request(`${op.issuer}/api/oidc/token`, {
          method: 'POST',
          ca: cert,
          hosts,
          headers: { ...FORM, authorization: basic(CONF.client_id, CONF.client_secret) },
          body: form({
            grant_type: 'authorization_code', code: flow.callback.searchParams.get('code'),
            redirect_uri: CONF.redirect_uris[0], code_verifier: flow.verifier,
          }),
        });
        assert.equal(token.status, 200, token.body);
        assert.equal(token.json.token_type, 'bearer');
        const idt = await verifyIdToken(op, token.json.id_token, CONF, { ca: cert, hosts });
        assert.deepEqual(idt.payload.groups, ['admins', 'users']);
        assert.ok(browser.jar.some((c) => c.name === '_session' && c.secure), 'session cookie is Secure over https');
      } finally {
        await op.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cli.mjs prints a ready line, serves, and exits cleanly on SIGTERM', async () => {
    const cli = spawn(process.execPath, [
      new URL('./cli.mjs', import.meta.url).pathname,
      '--port', '0', '--issuer-host', 'id.example.test',
      '--client-id', 'tinyauth', '--client-secret', 'cli-secret-123',
      '--redirect-uri', 'http://auth.example.test:8080/api/oauth/callback/generic',
      '--post-logout-redirect-uri', 'http://auth.example.test:8080/',
      '--alg', 'ES256',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    cli.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise((resolve) => cli.on('exit', (code, signal) => resolve({ code, signal })));
    try {
      const line = await new Promise((resolve, reject) => {
        let out = '';
        cli.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) resolve(out.split('\n')[0]);
        });
        exited.then(() => reject(new Error(`cli exited early: ${stderr}`)));
      });
      const ready = JSON.parse(line);
      assert.equal(ready.ready, true);
      assert.ok(ready.port > 0);
      assert.equal(ready.issuer, `http://id.example.test:${ready.port}`);
      const d = (await request(`http://127.0.0.1:${ready.port}/.well-known/openid-configuration`)).json;
      assert.equal(d.issuer, ready.issuer);
      assert.deepEqual(d.id_token_signing_alg_values_supported, ['ES256']);
      cli.kill('SIGTERM');
      assert.deepEqual(await exited, { code: 0, signal: null });
    } finally {
      cli.kill('SIGKILL');
    }
  });
});
