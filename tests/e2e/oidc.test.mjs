// OIDC against the Pocket ID stand-in in real Envoy: discovery-only
// configuration, verified ID tokens across key rotation, two providers side by
// side, RP-initiated logout, every token-endpoint auth method, and the 503
// while the provider is unreachable, then recovery.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startPocketId } from './pocket-id/standin.mjs';
import { freePort } from './lib/ports.mjs';
import { CLIENT_ID, CLIENT_SECRET, defaultClients, echoed, loginVia, sessionCookie, startStack, waitProvidersReady } from './lib/stack.mjs';

describe('OIDC with the Pocket ID stand-in', () => {
  let s;
  before(async () => {
    // Only the issuer and client credentials: everything else is discovered.
    s = await startStack({ name: 'oidc-discovery' }, {
      customize: (c, { issuer }) => {
        c.oauth.providers.generic = {
          name: 'Pocket ID',
          issuer,
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          cluster: 'pocket_id',
          logoutAtProvider: true,
        };
        return c;
      },
    });
  });
  after(async () => {
    await s?.stop();
  });

  test('a discovery-only configuration logs in with a verified ID token', async () => {
    await s.envoy.waitForLog(/provider generic: discovered issuer http:\/\/id\.example\.test:\d+/, 1000);
    const b = s.browser('alice');
    const r = await loginVia(b, s.url('admin', '/'));
    assert.equal(r.status, 200, r.body);
    assert.equal(echoed(r)['remote-user'], 'alice');
    const authorize = s.op.requests.findLast((q) => q.endpoint === 'authorize');
    assert.ok(authorize.query.nonce.length >= 43, 'a nonce is sent and later checked');
  });

  for (const alg of ['ES256', 'EdDSA', 'PS256', 'RS512']) {
    test(`the provider rotating to a new ${alg} key (new kid) does not break logins`, async () => {
      const before = s.op.currentKid;
      const mark = s.envoy.mark();
      const rotated = await s.op.rotateKey({ alg, keepOld: true });
      assert.notEqual(rotated.kid, before);
      const b = s.browser('bob');
      const r = await loginVia(b, s.url('whoami', '/'));
      assert.equal(r.status, 200, r.body);
      assert.equal(echoed(r)['remote-user'], 'bob');
      await s.envoy.waitForLog(new RegExp(`unknown kid \`${rotated.kid}\`; refetching the JWKS`), 2000, { since: mark });
    });
  }

  test('with logoutAtProvider, logout ends the session at the provider too (RP-initiated, with id_token_hint)', async () => {
    const b = s.browser('alice');
    await loginVia(b, s.url('whoami', '/'));
    const sessionsBefore = s.op.sessions('alice').length;
    assert.ok(sessionsBefore >= 1, 'a provider session exists');
    const calls = s.op.endSessionCalls.length;
    const r = await b.get(`${s.appUrl}/logout`);
    assert.equal(r.status, 200);
    assert.equal(new URL(r.url).pathname, '/logout/done');
    assert.equal(new URL(r.url).origin, s.appUrl);
    assert.match(r.body, /logged out/);
    const call = s.op.endSessionCalls[calls];
    assert.ok(call, 'the end-session endpoint was called');
    assert.equal(call.hintValid, true);
    assert.equal(call.sessionEnded, true);
    assert.ok(call.params.state.length >= 43);
    assert.equal(s.op.sessions('alice').length, sessionsBefore - 1, "this browser's provider session is gone");
    assert.equal(sessionCookie(b), undefined);
    assert.ok(!b.jar.list().some((c) => c.name.startsWith('tinyauth-idt-')));
    // Signing in again needs the provider again (the stand-in asks who you are).
    b.jar.delete('standin_user');
    const again = await loginVia(b, s.url('whoami', '/'));
    assert.match(again.body, /Sign in to Pocket ID \(stand-in\)/);
  });

  test('users without an email (dave) log in; an unverified email is allowed unless required', async () => {
    const dave = await loginVia(s.browser('dave'), s.url('whoami', '/'));
    assert.equal(dave.status, 200);
    assert.equal(echoed(dave)['remote-email'], undefined);
    const erin = await loginVia(s.browser('erin'), s.url('whoami', '/'));
    assert.equal(erin.status, 200);
  });
});

describe('provider options', () => {
  test('client_secret_post, claims from the ID token, and a required verified email', async (t) => {
    const s = await startStack({ name: 'oidc-post' }, {
      customize: (c) => {
        Object.assign(c.oauth.providers.generic, {
          tokenAuthMethod: 'client_secret_post',
          claimsFrom: 'idToken',
          requireEmailVerified: true,
        });
        return c;
      },
    });
    t.after(() => s.stop());
    const r = await loginVia(s.browser('alice'), s.url('admin', '/'));
    assert.equal(r.status, 200, r.body);
    assert.equal(echoed(r)['remote-groups'], 'admins,users', 'groups read from the verified ID token');
    const token = s.op.requests.findLast((q) => q.endpoint === 'token');
    assert.equal(token.form.client_secret, CLIENT_SECRET);
    assert.equal(token.headers.authorization, undefined);
    assert.equal(s.op.requests.filter((q) => q.endpoint === 'userinfo').length, 0, 'no userinfo call');
    const erin = await loginVia(s.browser('erin'), s.url('whoami', '/'));
    assert.equal(erin.status, 403);
    assert.match(erin.body, /not verified/);
    const dave = await loginVia(s.browser('dave'), s.url('whoami', '/'));
    assert.equal(dave.status, 403, 'no email, so not a verified one');
  });

  test('a public client logs in with PKCE only', async (t) => {
    const s = await startStack({ name: 'oidc-public' }, {
      clients: (appUrl) => [
        {
          client_id: 'public-app',
          token_endpoint_auth_method: 'none',
          redirect_uris: [`${appUrl}/api/oauth/callback/generic`],
        },
      ],
      customize: (c) => {
        Object.assign(c.oauth.providers.generic, { clientId: 'public-app', tokenAuthMethod: 'none' });
        delete c.oauth.providers.generic.clientSecret;
        return c;
      },
    });
    t.after(() => s.stop());
    const r = await loginVia(s.browser('alice'), s.url('whoami', '/'));
    assert.equal(r.status, 200, r.body);
    const token = s.op.requests.findLast((q) => q.endpoint === 'token');
    assert.equal(token.form.client_id, 'public-app');
    assert.equal(token.form.client_secret, undefined);
    assert.equal(token.headers.authorization, undefined);
    assert.ok(token.form.code_verifier.length >= 43);
  });
});

describe('two providers side by side', () => {
  let s;
  let second;
  before(async () => {
    const port = await freePort();
    const appUrl = `http://auth.example.test:${port}`;
    second = await startPocketId({
      port: 0,
      issuerHost: 'id2.example.test',
      clients: [{
        client_id: 'second-client',
        client_secret: 'second-secret',
        redirect_uris: [`${appUrl}/api/oauth/callback/second`],
      }],
    });
    s = await startStack({ name: 'two-providers' }, {
      port,
      extraClusters: [{ name: 'pocket_id_2', host: '127.0.0.1', port: second.port }],
      customize: (c) => {
        c.oauth.providers.second = {
          name: 'Second Pocket ID',
          issuer: second.issuer,
          clientId: 'second-client',
          clientSecret: 'second-secret',
          cluster: 'pocket_id_2',
          whitelist: 'bob@example.test',
        };
        return c;
      },
    });
  });
  after(async () => {
    await s?.stop();
    await second?.close();
  });

  async function loginWith(name, browser, url) {
    const page = await browser.get(url);
    const href = new RegExp(`href="([^"]*/api/oauth/start/${name}[^"]*)"`).exec(page.body)?.[1];
    assert.ok(href, `a button for ${name}`);
    return browser.get(href.replaceAll('&amp;', '&'));
  }

  test('the login page lists both providers', async () => {
    const page = await s.browser(null).get(s.url('whoami', '/'));
    assert.match(page.body, /Login with Pocket ID/);
    assert.match(page.body, /Login with Second Pocket ID/);
  });

  test('each provider logs in through its own callback, with its own whitelist', async () => {
    const viaFirst = await loginWith('generic', s.browser('alice'), s.url('whoami', '/'));
    assert.equal(echoed(viaFirst)['remote-user'], 'alice');

    const bob = s.browser(null);
    bob.jar.set('standin_user', 'bob', { url: second.issuer });
    const viaSecond = await loginWith('second', bob, s.url('whoami', '/'));
    assert.equal(viaSecond.status, 200, viaSecond.body);
    assert.equal(echoed(viaSecond)['remote-user'], 'bob');
    assert.ok(second.requests.some((q) => q.endpoint === 'token'), 'the second provider issued the token');

    const alice = s.browser(null);
    alice.jar.set('standin_user', 'alice', { url: second.issuer });
    const refused = await loginWith('second', alice, s.url('whoami', '/'));
    assert.equal(refused.status, 403, 'the second provider only admits bob');
  });
});

describe('provider unreachable at start', () => {
  test('logins get 503 with Retry-After, then work once the provider is up', async (t) => {
    const port = await freePort();
    const op = await startPocketId({ port: 0, issuerHost: 'id.example.test', clients: defaultClients(`http://auth.example.test:${port}`) });
    await op.close();
    const s = await startStack({ name: 'late-provider' }, { port, op, waitReady: false });
    t.after(() => s.stop());
    await s.envoy.waitForLog(
      /provider generic: discovery failed: HTTP 503 \(Envoy could not reach the provider\); logins through it are refused until it succeeds \(retry in \d+s\)/,
      10000,
    );
    const down = await loginVia(s.browser('alice'), s.url('whoami', '/'));
    assert.equal(down.status, 503);
    assert.match(down.body, /temporarily unavailable/);
    assert.ok(Number(down.headers['retry-after']) >= 1, 'Retry-After is set');
    const api = await s.api().get(`${s.appUrl}/api/oauth/start/generic`);
    assert.equal(api.status, 503);
    assert.ok(api.headers['retry-after']);
    assert.equal(s.upstream.requests.length, 0, 'nothing was forwarded');

    await op.start();
    await waitProvidersReady(s.envoy, s.filterConfig, 2, 90000);
    const ok = await loginVia(s.browser('alice'), s.url('whoami', '/'));
    assert.equal(ok.status, 200, ok.body);
    assert.equal(echoed(ok)['remote-user'], 'alice');
  });
});
