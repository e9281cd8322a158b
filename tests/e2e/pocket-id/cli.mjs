#!/usr/bin/env node
// Run the Pocket ID stand-in on its own (demo, manual testing).
//
//   node tests/e2e/pocket-id/cli.mjs --port 1411 --issuer http://id.example.test:1411 \
//     --client-id tinyauth --client-secret s3cret \
//     --redirect-uri http://auth.example.test:8080/api/oauth/callback/generic \
//     [--post-logout-redirect-uri URL]... [--alg RS256]
//
// Prints one JSON line {"ready":true,...} on stdout once listening; everything
// else goes to stderr. Stops cleanly on SIGINT/SIGTERM.

import * as fs from 'node:fs';
import { parseArgs } from 'node:util';

import { DEFAULT_USERS, startPocketId } from './standin.mjs';

const USAGE = `usage: cli.mjs [options]
  --port N                       listen port (default 1411; 0 = any free port)
  --host ADDR                    bind address (default 127.0.0.1)
  --issuer URL                   public base URL / APP_URL (default http(s)://<host>:<port>)
  --issuer-host NAME             alternative to --issuer: http(s)://NAME:<port>
  --internal-base-url URL        INTERNAL_APP_URL for token/userinfo/introspect/jwks in discovery
  --client-id ID                 register one client ...
  --client-secret SECRET         ... confidential (basic and post accepted); omit for a public client (PKCE)
  --redirect-uri URL             its callback URL (repeatable, exact match)
  --post-logout-redirect-uri URL its logout callback URL (repeatable)
  --auth-method M                client_secret_basic | client_secret_post | none
  --clients-json FILE            JSON array of clients ({client_id, client_secret?, redirect_uris, ...})
  --alg ALG                      RS256 (default), RS384, RS512, PS256, ES256, ES384, ES512, EdDSA
  --tls-key FILE --tls-cert FILE serve HTTPS with this PEM key and certificate
  --verbose                      print every provider error
Users (pick one with a cookie standin_user=<name> on the provider host, or on the login page):
  ${DEFAULT_USERS.map((u) => u.username).join(', ')}`;

function fail(message) {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      port: { type: 'string', default: '1411' },
      host: { type: 'string', default: '127.0.0.1' },
      issuer: { type: 'string' },
      'issuer-host': { type: 'string' },
      'internal-base-url': { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      'auth-method': { type: 'string' },
      'clients-json': { type: 'string' },
      alg: { type: 'string', default: 'RS256' },
      'tls-key': { type: 'string' },
      'tls-cert': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }));
} catch (err) {
  fail(err.message);
}

if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const clients = [];
if (values['clients-json']) {
  const parsed = JSON.parse(fs.readFileSync(values['clients-json'], 'utf8'));
  if (!Array.isArray(parsed)) fail('--clients-json must contain a JSON array');
  clients.push(...parsed);
}
if (values['client-id']) {
  if (!values['redirect-uri']?.length) fail('--client-id needs at least one --redirect-uri (Pocket ID requires a callback URL)');
  clients.push({
    client_id: values['client-id'],
    client_secret: values['client-secret'],
    redirect_uris: values['redirect-uri'],
    post_logout_redirect_uris: values['post-logout-redirect-uri'] ?? [],
    token_endpoint_auth_method: values['auth-method'] ?? (values['client-secret'] ? 'client_secret_basic' : 'none'),
  });
}
if (clients.length === 0) fail('register a client with --client-id/--redirect-uri or --clients-json');

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid --port ${values.port}`);
if (Boolean(values['tls-key']) !== Boolean(values['tls-cert'])) fail('--tls-key and --tls-cert go together');

const handle = await startPocketId({
  port,
  host: values.host,
  issuer: values.issuer,
  issuerHost: values['issuer-host'],
  internalBaseUrl: values['internal-base-url'],
  clients,
  signingAlg: values.alg,
  tls: values['tls-key']
    ? { key: fs.readFileSync(values['tls-key'], 'utf8'), cert: fs.readFileSync(values['tls-cert'], 'utf8') }
    : undefined,
  verbose: values.verbose,
});

process.stdout.write(`${JSON.stringify({
  ready: true, issuer: handle.issuer, port: handle.port, url: handle.url,
})}\n`);

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`[pocket-id stand-in] ${signal}: shutting down\n`);
  await handle.close();
  process.exit(0);
}
process.on('SIGINT', () => { stop('SIGINT'); });
process.on('SIGTERM', () => { stop('SIGTERM'); });
