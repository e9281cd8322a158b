// The benchmark's forward-auth service: what Tinyauth is behind a proxy. Envoy's
// ext_authz filter sends it every request's headers; it answers 200 with the
// identity headers for a valid session, 401 otherwise. Its session is its own
// signed cookie, `fa-session=<base64url JSON>.<base64url HMAC-SHA256>`, with
// the claims tinyauth-wasm carries; it checks the signature, the expiry and
// the app's group rule (`admins`), as a forward-auth service must on every
// request. It runs in its own process so its CPU can be measured apart from
// Envoy's.
//
//   node envoy-demo/bench/forward-auth.mjs <secret>   (prints "listening on <port>")
//
// `mintSession(secret, claims)` makes a session for it.

import crypto from 'node:crypto';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const COOKIE = 'fa-session';

const mac = (secret, payload) => crypto.createHmac('sha256', secret).update(payload).digest('base64url');

/** A session cookie (`name=value`) for `claims` ({sub, user, email, name, groups, exp}). */
export function mintSession(secret, claims) {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${COOKIE}=${payload}.${mac(secret, payload)}`;
}

/** The session's claims if `cookieHeader` carries a valid, unexpired one. */
function verify(secret, cookieHeader, nowSeconds) {
  for (const pair of (cookieHeader ?? '').split(';')) {
    const [name, value] = pair.trim().split('=', 2);
    if (name !== COOKIE || !value) continue;
    const [payload, tag] = value.split('.');
    if (!payload || !tag) continue;
    const expected = Buffer.from(mac(secret, payload));
    const given = Buffer.from(tag);
    if (expected.length !== given.length || !crypto.timingSafeEqual(expected, given)) continue;
    try {
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      if (typeof claims.exp === 'number' && claims.exp > nowSeconds) return claims;
    } catch {
      /* not JSON: not a session */
    }
  }
  return null;
}

function serve(secret) {
  const server = http.createServer((req, res) => {
    const claims = verify(secret, req.headers.cookie, Date.now() / 1000);
    if (!claims) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('unauthorized');
      return;
    }
    if (!claims.groups?.includes('admins')) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden');
      return;
    }
    res.writeHead(200, {
      'remote-user': claims.user,
      'remote-email': claims.email,
      'remote-name': claims.name,
      'remote-groups': claims.groups.join(','),
      'remote-sub': claims.sub,
      'x-bench': '1',
    }).end();
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => console.log(`listening on ${server.address().port}`));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const secret = process.argv[2];
  if (!secret) {
    console.error('usage: node envoy-demo/bench/forward-auth.mjs <secret>');
    process.exit(2);
  }
  serve(secret);
}
