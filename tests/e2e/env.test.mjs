// Configuration from the VM environment in real Envoy: the seed guide's
// environment block pasted as is (vm_config.environment_variables) with an
// empty JSON configuration, and a provider cluster named the way Istio names
// it; bad environment values stop the filter from loading.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { buildEnvoyConfig, runEnvoyExpectFailure } from './lib/envoy.mjs';
import { CLIENT_ID, CLIENT_SECRET, SECRET, echoed, loginVia, startStack } from './lib/stack.mjs';

test("the seed guide's environment block is a complete configuration", async (t) => {
  const s = await startStack({ name: 'seed-env' }, {
    customize: () => '',
    envVarsFor: ({ port, issuer }) => ({
      APP_URL: `http://auth.example.test:${port}`,
      SECRET,
      GENERIC_CLIENT_ID: CLIENT_ID,
      GENERIC_CLIENT_SECRET: CLIENT_SECRET,
      GENERIC_AUTH_URL: `${issuer}/authorize`,
      GENERIC_TOKEN_URL: `${issuer}/api/oidc/token`,
      GENERIC_USER_URL: `${issuer}/api/oidc/userinfo`,
      GENERIC_SCOPES: 'openid email profile groups',
      GENERIC_NAME: 'Pocket ID',
      OAUTH_WHITELIST: 'alice@example.test, bob@example.test',
      TINYAUTH_SERVER_PORT: '3000',
    }),
    extraClustersFor: ({ op }) => [{ name: `outbound|${op.port}||id.example.test`, host: '127.0.0.1', port: op.port }],
  });
  t.after(() => s.stop());
  assert.match(s.envoy.logs(), /TINYAUTH_SERVER_PORT ignored: a Tinyauth server setting/);
  const page = await s.browser(null).get(s.url('whoami', '/'));
  assert.match(page.body, /Login with Pocket ID/);
  const r = await loginVia(s.browser('alice'), s.url('whoami', '/'));
  assert.equal(r.status, 200, r.body);
  assert.equal(echoed(r)['remote-user'], 'alice');
  const carol = await loginVia(s.browser('carol'), s.url('whoami', '/'));
  assert.equal(carol.status, 403, 'OAUTH_WHITELIST applies');
  const token = s.op.requests.findLast((q) => q.endpoint === 'token');
  assert.match(token.headers.authorization, /^Basic /);
});

test("a Tinyauth regex whitelist keeps working: /@example\\.test$/ is a search, and a partial group regex is warned about at load", async (t) => {
  const s = await startStack({ name: 'seed-regex' }, {
    customize: () => '',
    envVarsFor: ({ port, issuer }) => ({
      APP_URL: `http://auth.example.test:${port}`,
      SECRET,
      GENERIC_CLIENT_ID: CLIENT_ID,
      GENERIC_CLIENT_SECRET: CLIENT_SECRET,
      GENERIC_AUTH_URL: `${issuer}/authorize`,
      GENERIC_TOKEN_URL: `${issuer}/api/oidc/token`,
      GENERIC_USER_URL: `${issuer}/api/oidc/userinfo`,
      // Tinyauth's migration case: unanchored at the start, as Go's MatchString.
      OAUTH_WHITELIST: '/@example\\.test$/',
      TINYAUTH_APPS_ADMIN_OAUTH_GROUPS: '/admins/',
    }),
    extraClustersFor: ({ op }) => [{ name: `outbound|${op.port}||id.example.test`, host: '127.0.0.1', port: op.port }],
  });
  t.after(() => s.stop());
  const warning = /\[warning\].*apps\.admin\.oauth\.groups: the regex \/admins\/ matches any value that contains a match.*\(set by environment variable TINYAUTH_APPS_ADMIN_OAUTH_GROUPS\)/;
  const warnings = () => s.envoy.logs().split('\n').filter((line) => warning.test(line)).length;
  const atLoad = warnings();
  assert.ok(atLoad >= 1, 'the partial group regex is warned about at load');
  assert.match(s.envoy.logs(), /\[warning\].*oauth\.whitelist: the regex \/@example\\\.test\$\/ matches any value that contains a match/);
  const alice = await loginVia(s.browser('alice'), s.url('whoami', '/'));
  assert.equal(alice.status, 200, 'alice@example.test matches the whitelist');
  assert.equal(echoed(alice)['remote-email'], 'alice@example.test');
  const carol = await loginVia(s.browser('carol'), s.url('whoami', '/'));
  assert.equal(carol.status, 403, 'carol@other.test does not');
  assert.equal((await loginVia(s.browser('alice'), s.url('admin', '/'))).status, 200, 'alice is in admins');
  assert.equal(warnings(), atLoad, 'the warning is logged when a VM loads, not per request');
});

test('environment errors stop the filter from loading and name the variable', async () => {
  const cases = [
    [{ TINYAUTH_AUTH_SESIONEXPIRY: '60' }, /environment variable TINYAUTH_AUTH_SESIONEXPIRY: is not a Tinyauth setting/],
    [{ TINYAUTH_AUTH_SESSIONMAXLIFETIME: 'forever' }, /auth\.sessionMaxLifetime: .*\(set by environment variable TINYAUTH_AUTH_SESSIONMAXLIFETIME\)/],
    [{ SESSION_EXPIRY: '60' }, /auth\.sessionExpiry: is set differently by the JSON configuration and by environment variable SESSION_EXPIRY/],
    [{ USERS: 'admin:$2a$10$hash' }, /environment variable USERS: local users are not supported/],
    // A typo that Tinyauth would ignore, silently turning the whitelist off.
    [{ OAUTH_WHITELST: '/@example\\.test$/' }, /environment variable OAUTH_WHITELST: .*did you mean `?OAUTH_WHITELIST`?\?/],
    [{ GENERIC_CLIENT_SECERT: 'x' }, /environment variable GENERIC_CLIENT_SECERT: .*did you mean `?GENERIC_CLIENT_SECRET`?\?/],
    [{ TINYAUTH_UI_BACKGROUNDIMAGE: '/background.jpg' }, /ui\.backgroundImage: `\/background\.jpg` must be an absolute http:\/\/ or https:\/\/ URL: the filter has no file server/],
  ];
  for (const [envVars, expected] of cases) {
    const config = buildEnvoyConfig({
      listenPort: 0,
      envVars,
      filterConfig: {
        appUrl: 'http://auth.example.test:1',
        secret: SECRET,
        auth: { sessionExpiry: 3600 },
        oauth: { providers: { generic: { clientId: 'c', clientSecret: 's', authUrl: 'http://id.example.test:1/authorize', verifyIdToken: false, tokenUrl: 'http://id.example.test:1/t', userInfoUrl: 'http://id.example.test:1/u' } } },
      },
      clusters: [{ name: 'app', host: '127.0.0.1', port: 9 }],
    });
    const result = await runEnvoyExpectFailure({ config, testName: `env-${Object.keys(envVars)[0]}`, untilLog: /Unable to create Wasm plugin/ });
    assert.match(result.logs, expected);
  }
});
