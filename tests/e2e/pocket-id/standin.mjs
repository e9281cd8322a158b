// A stand-in for the Pocket ID OIDC provider (v2.10+ behaviour), built on
// npm `oidc-provider` 9.13.3. Used by tinyauth-wasm's end-to-end tests and demo.
//
// What Pocket ID does and why each shim below exists is described in
// shared/reference/pocket-id.md (§1-§4 for Pocket ID, §7 and §10 for how
// oidc-provider is bent into shape). Only test code should ever import this.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import * as querystring from 'node:querystring';

import * as jose from 'jose';
import Provider, { errors as oidcErrors } from 'oidc-provider';

// ---------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------

/**
 * Test users. `sub` values are fixed UUIDs (Pocket ID uses the user's UUID as
 * `sub`) so that tests and ACL fixtures can refer to them.
 * @type {ReadonlyArray<{sub:string, username:string, email?:string, emailVerified?:boolean,
 *   givenName:string, familyName:string, groups:string[]}>}
 */
export const DEFAULT_USERS = Object.freeze([
  {
    sub: 'a11ce000-0000-4000-8000-000000000001',
    username: 'alice',
    email: 'alice@example.test',
    emailVerified: true,
    givenName: 'Alice',
    familyName: 'Anderson',
    groups: ['admins', 'users'],
  },
  {
    sub: 'b0b00000-0000-4000-8000-000000000002',
    username: 'bob',
    email: 'bob@example.test',
    emailVerified: true,
    givenName: 'Bob',
    familyName: 'Brown',
    groups: ['users'],
  },
  {
    // In no group at all: Pocket ID then sends `"groups": []`.
    sub: 'ca201000-0000-4000-8000-000000000003',
    username: 'carol',
    email: 'carol@other.test',
    emailVerified: true,
    givenName: 'Carol',
    familyName: 'Clark',
    groups: [],
  },
  {
    // No email at all (allowed since Pocket ID v2.2): no email/email_verified claims.
    sub: 'da4e0000-0000-4000-8000-000000000004',
    username: 'dave',
    givenName: 'Dave',
    familyName: 'Davis',
    groups: ['users'],
  },
  {
    // Email not (yet) verified by an admin, which is Pocket ID's default.
    sub: 'e2170000-0000-4000-8000-000000000005',
    username: 'erin',
    email: 'erin@example.test',
    emailVerified: false,
    givenName: 'Erin',
    familyName: 'Evans',
    groups: ['admins'],
  },
].map((u) => Object.freeze({ ...u, groups: Object.freeze([...u.groups]) })));

// ---------------------------------------------------------------------------
// Constants mirroring Pocket ID
// ---------------------------------------------------------------------------

const PATHS = Object.freeze({
  authorization: '/authorize',
  token: '/api/oidc/token',
  userinfo: '/api/oidc/userinfo',
  introspection: '/api/oidc/introspect',
  jwks: '/.well-known/jwks.json',
  endSession: '/api/oidc/end-session',
  par: '/api/oidc/par',
  discovery: '/.well-known/openid-configuration',
  discoveryOAuth: '/.well-known/oauth-authorization-server',
  logout: '/logout',
  // Only with the `revocation` option: Pocket ID has no RFC 7009 endpoint.
  revocation: '/api/oidc/revoke',
});

// Pocket ID's refresh tokens are fosite's HMAC tokens, `ory_rt_<43>.<43>`:
// 94 characters, which is what a relying party has to store.
const REFRESH_TOKEN_CHARS = 94;

// fosite's MinParameterEntropy, which Pocket ID keeps at its default of 8.
const MIN_PARAMETER_ENTROPY = 8;

const SUPPORTED_ALGS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA']);

const FAULT_MODES = new Set(['500', 'junk', 'json-garbage', 'slow', 'drop', '400']);

// Endpoints whose traffic is logged in `handle.requests` and that faults apply to.
const LOGGED_ENDPOINTS = new Set(['authorize', 'token', 'userinfo', 'end-session', 'introspect', 'revocation']);
const FAULTABLE_ENDPOINTS = new Set(['token', 'userinfo', 'discovery', 'jwks', 'authorize', 'introspect', 'end-session', 'revocation']);

// Pocket ID's advertised claims_supported (well_known_controller.go).
const CLAIMS_SUPPORTED = [
  'sub', 'given_name', 'family_name', 'name', 'display_name', 'email', 'email_verified',
  'preferred_username', 'picture', 'groups', 'auth_time', 'amr',
];

// A 1x1 transparent PNG, served as every user's profile picture so that the
// `picture` claim points at something that exists.
const PIXEL_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

const epochTime = () => Math.floor(Date.now() / 1000);

function htmlEscape(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  }[c]));
}

function page(title, bodyHtml) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${htmlEscape(title)}</title>
<style>body{font-family:sans-serif;max-width:28em;margin:3em auto}button{display:block;width:100%;margin:.4em 0;padding:.6em;font-size:1em}small{color:#666}</style>
</head><body>${bodyHtml}</body></html>`;
}

// Reads and parses an application/x-www-form-urlencoded body. Only used on
// requests that oidc-provider will NOT parse itself (our own routes, faulted
// requests, and POST /authorize which is turned into a GET); reading a body
// that oidc-provider then reads again makes it print a warning.
async function readForm(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return { ...querystring.parse(text) };
}

function plainObject(searchParamsLike) {
  // Koa's ctx.query is a null-prototype object; tests want a plain one.
  return { ...searchParamsLike };
}

// `issuer` is Pocket ID's APP_URL: lower-cased, without a trailing slash.
function normalizeBaseUrl(url) {
  const u = new URL(url);
  let s = `${u.protocol}//${u.host}${u.pathname}`.replace(/\/+$/, '');
  s = s.toLowerCase();
  return s;
}

async function generateSigningKey(alg) {
  if (!SUPPORTED_ALGS.has(alg)) {
    throw new TypeError(`unsupported signingAlg ${alg}; use one of ${[...SUPPORTED_ALGS].join(', ')}`);
  }
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  const privateJwk = await jose.exportJWK(privateKey);
  const publicJwk = await jose.exportJWK(publicKey);
  const kid = crypto.randomUUID();
  Object.assign(privateJwk, { kid, alg, use: 'sig' });
  Object.assign(publicJwk, { kid, alg, use: 'sig' });
  return { kid, alg, privateJwk, publicJwk, publicKey };
}

// ---------------------------------------------------------------------------
// In-memory adapter
// ---------------------------------------------------------------------------
//
// oidc-provider's bundled memory adapter shares one LRU (1000 entries) across
// every Provider in the process and prints a "development-only" warning. We
// want per-instance state (several stand-ins in one test process), state that
// survives a Provider rebuild (rotateKey) and close()/start(), and the ability
// to scan entries (end-session revokes by user and client; tests ask which
// sessions are alive). Hence this small Map-based adapter.

const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

class Store {
  #data = new Map(); // key -> { value, expiresAt (ms) | undefined }

  get(key) {
    const entry = this.#data.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.#data.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key, value, expiresInSec) {
    const expiresAt = typeof expiresInSec === 'number' ? Date.now() + expiresInSec * 1000 : undefined;
    this.#data.set(key, { value, expiresAt });
  }

  delete(key) { this.#data.delete(key); }

  * entries(prefix) {
    for (const key of [...this.#data.keys()]) {
      if (!key.startsWith(prefix)) continue;
      const value = this.get(key);
      if (value !== undefined) yield [key, value];
    }
  }
}

function makeAdapterClass(store) {
  return class StandinAdapter {
    constructor(model) { this.model = model; }

    key(id) { return `${this.model}:${id}`; }

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      if (this.model === 'Session') store.set(`sessionUid:${payload.uid}`, id, expiresIn);
      if (GRANTABLE.has(this.model) && payload.grantId) {
        const members = store.get(`grant:${payload.grantId}`) ?? new Set();
        members.add(key);
        // The index outlives its members; stale keys are harmless on revoke.
        store.set(`grant:${payload.grantId}`, members);
      }
      if (payload.userCode) store.set(`userCode:${payload.userCode}`, id, expiresIn);
      store.set(key, payload, expiresIn);
    }

    async find(id) { return store.get(this.key(id)); }

    async findByUid(uid) {
      const id = store.get(`sessionUid:${uid}`);
      return id === undefined ? undefined : this.find(id);
    }

    async findByUserCode(userCode) {
      const id = store.get(`userCode:${userCode}`);
      return id === undefined ? undefined : this.find(id);
    }

    async consume(id) {
      const payload = store.get(this.key(id));
      if (payload) payload.consumed = epochTime();
    }

    async destroy(id) { store.delete(this.key(id)); }

    async revokeByGrantId(grantId) { revokeGrantTokens(store, grantId); }
  };
}

// Deletes every token (code, access, refresh) issued under a grant.
function revokeGrantTokens(store, grantId) {
  for (const key of store.get(`grant:${grantId}`) ?? []) store.delete(key);
  store.delete(`grant:${grantId}`);
}

// ---------------------------------------------------------------------------
// The stand-in
// ---------------------------------------------------------------------------

/**
 * Start a Pocket ID stand-in.
 *
 * @param {object} [options]
 * @param {number} [options.port=0] 0 picks a free port.
 * @param {string} [options.host='127.0.0.1'] bind address.
 * @param {string|((port:number)=>string)} [options.issuer] public base URL (APP_URL).
 * @param {string} [options.issuerHost] alternative to `issuer`: `http(s)://<issuerHost>:<port>`.
 * @param {string} [options.internalBaseUrl] INTERNAL_APP_URL: base for token/userinfo/introspect/par/jwks_uri in discovery.
 * @param {Array<object>} [options.clients]
 * @param {Array<object>} [options.users=DEFAULT_USERS]
 * @param {string} [options.signingAlg='RS256']
 * @param {{key:string, cert:string}} [options.tls] serve HTTPS.
 * @param {number} [options.slowMs=30000] delay of the 'slow' fault.
 * @param {boolean} [options.verbose=false] print every provider error, not only server errors.
 * @param {boolean} [options.revocation=false] serve RFC 7009 revocation (Pocket ID does not).
 */
export async function startPocketId(options = {}) {
  const {
    port: requestedPort = 0,
    host = '127.0.0.1',
    clients: clientConfigs = [],
    users: givenUsers = DEFAULT_USERS,
    signingAlg = 'RS256',
    tls,
    slowMs = 30000,
    verbose = false,
    revocation = false,
  } = options;

  const scheme = tls ? 'https' : 'http';
  // A wildcard bind address is not something a client can be sent to.
  const publicHost = { '0.0.0.0': '127.0.0.1', '::': '[::1]' }[host] ?? (host.includes(':') ? `[${host}]` : host);
  // This stand-in's own copies: admin changes (setUserGroups, setUserDisabled)
  // stay in it.
  const users = givenUsers.map((u) => ({ ...u, groups: u.groups === undefined ? undefined : [...u.groups] }));
  const usersBySub = new Map(users.map((u) => [u.sub, u]));
  const usersByName = new Map(users.map((u) => [u.username, u]));

  const store = new Store();
  const Adapter = makeAdapterClass(store);
  // Cookie signing keys are fixed for the life of the stand-in so sessions
  // survive Provider rebuilds (rotateKey) and restarts (close/start).
  const cookieKeys = [crypto.randomBytes(32).toString('base64url')];

  const state = {
    keys: [await generateSigningKey(signingAlg)], // keys[0] signs; the rest are only published
    provider: undefined,
    callback: undefined,
    issuer: undefined,
    internalBaseUrl: undefined,
    // "user has authorized this client" (Pocket ID's UserAuthorizedOidcClient), which
    // end-session requires; unlike grants it is not removed by logout.
    authorizedClients: new Set(),
  };

  const faults = { token: null, userinfo: null, discovery: null, jwks: null, authorize: null, introspect: null, 'end-session': null, revocation: null };
  const faultOptions = {}; // endpoint -> { times, ms }
  const requests = [];
  const endSessionCalls = [];
  const pendingDelays = new Set();

  // ---- server ------------------------------------------------------------

  const onRequest = (req, res) => {
    if (!state.callback) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"error":"server_error","error_description":"stand-in is starting"}');
      return;
    }
    state.callback(req, res);
  };
  const server = tls
    ? https.createServer({ key: tls.key, cert: tls.cert }, onRequest)
    : http.createServer(onRequest);
  // Keep-alive sockets would otherwise keep close() waiting.
  server.keepAliveTimeout = 1000;

  let listening = false;
  const listen = (port) => new Promise((resolve, reject) => {
    const onError = (err) => { server.off('listening', onListening); reject(err); };
    const onListening = () => { server.off('error', onError); listening = true; resolve(server.address().port); };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });

  const port = await listen(requestedPort);

  let issuer;
  if (typeof options.issuer === 'function') issuer = options.issuer(port);
  else if (typeof options.issuer === 'string') issuer = options.issuer;
  else if (options.issuerHost) issuer = `${scheme}://${options.issuerHost}:${port}`;
  else issuer = `${scheme}://${publicHost}:${port}`;
  state.issuer = normalizeBaseUrl(issuer);
  state.internalBaseUrl = options.internalBaseUrl ? normalizeBaseUrl(options.internalBaseUrl) : undefined;

  // ---- provider (re)construction ----------------------------------------

  function currentAlg() { return state.keys[0].alg; }

  function toOidcClient(c) {
    const method = c.token_endpoint_auth_method ?? (c.client_secret ? 'client_secret_basic' : 'none');
    const out = {
      client_id: c.client_id,
      redirect_uris: [...c.redirect_uris],
      post_logout_redirect_uris: [...(c.post_logout_redirect_uris ?? [])],
      // oidc-provider 9 accepts both client_secret_basic and client_secret_post
      // for a client registered with either (lib/shared/client_auth.js),
      // which is what Pocket ID does for every confidential client.
      token_endpoint_auth_method: method,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      id_token_signed_response_alg: currentAlg(),
    };
    if (method !== 'none') out.client_secret = c.client_secret;
    return out;
  }

  function userClaims(user) {
    const name = `${user.givenName ?? ''} ${user.familyName ?? ''}`.trim();
    const claims = {
      sub: user.sub,
      given_name: user.givenName,
      family_name: user.familyName,
      name,
      display_name: user.displayName ?? name,
      preferred_username: user.username,
      picture: `${state.issuer}/api/users/${user.sub}/profile-picture.png`,
      groups: [...(user.groups ?? [])],
    };
    // Pocket ID emits email claims only when the user has an email (v2.2+).
    if (user.email) {
      claims.email = user.email;
      claims.email_verified = user.emailVerified === true;
    }
    return claims;
  }

  function buildProvider() {
    const provider = new Provider(state.issuer, {
      adapter: Adapter,
      clients: clientConfigs.map(toOidcClient),
      jwks: { keys: state.keys.map((k) => k.privateJwk) },
      cookies: { keys: cookieKeys },
      scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'],
      claims: {
        openid: ['sub'],
        profile: ['given_name', 'family_name', 'name', 'display_name', 'preferred_username', 'picture'],
        email: ['email', 'email_verified'],
        groups: ['groups'],
        amr: null,
        auth_time: null,
      },
      // Pocket ID puts the scope claims into the ID token too.
      conformIdTokenClaims: false,
      responseTypes: ['code'],
      clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
      enabledJWA: {
        idTokenSigningAlgValues: [...SUPPORTED_ALGS],
      },
      routes: {
        authorization: PATHS.authorization,
        token: PATHS.token,
        userinfo: PATHS.userinfo,
        introspection: PATHS.introspection,
        jwks: PATHS.jwks,
        pushed_authorization_request: PATHS.par,
        // Not reachable: our own handler answers PATHS.endSession first.
        end_session: '/api/oidc/_unused-end-session',
        revocation: PATHS.revocation,
      },
      formats: {
        // Opaque tokens as long as Pocket ID's refresh tokens (6 bits a character).
        bitsOfOpaqueRandomness: (ctx, token) => (token.kind === 'RefreshToken' ? REFRESH_TOKEN_CHARS * 6 : 256),
      },
      features: {
        devInteractions: { enabled: false },
        introspection: { enabled: true, allowedPolicy: async () => true },
        // Pocket ID has no RFC 7009 endpoint; the `revocation` option stands
        // in for providers that do.
        revocation: { enabled: revocation },
        // Pocket ID's logout is answered by our own handler (see endSession below).
        rpInitiatedLogout: { enabled: false },
        dPoP: { enabled: false },
        resourceIndicators: { enabled: false },
        pushedAuthorizationRequests: { enabled: true },
      },
      extraParams: {
        // fosite rejects a missing or short state with `invalid_state`, sent
        // to the redirect URI once client and redirect_uri are known good.
        // checkExtraParams runs after checkRedirectUri, so the same holds here.
        async state(ctx, value) {
          if (typeof value !== 'string' || value.length < MIN_PARAMETER_ENTROPY) {
            throw new oidcErrors.CustomOIDCProviderError(
              'invalid_state',
              'The state is missing or does not have enough characters and is therefore considered too weak.',
            );
          }
        },
      },
      async extraTokenClaims(ctx) {
        // fosite checks the nonce length when it builds the ID token at the
        // token endpoint (openid/helper.go generateIDToken), so a short nonce
        // yields a code that then fails to redeem with `insufficient_entropy`.
        // This hook runs inside the authorization_code grant, after the code
        // was found, which is the closest public hook to that point.
        const code = ctx?.oidc?.entities?.AuthorizationCode;
        if (ctx?.oidc?.route === 'token' && code?.nonce !== undefined
          && code.nonce.length < MIN_PARAMETER_ENTROPY) {
          throw new oidcErrors.CustomOIDCProviderError(
            'insufficient_entropy',
            'The request used a security parameter (e.g., anti-replay, anti-csrf) with insufficient entropy.',
          );
        }
        return undefined;
      },
      // Pocket ID always issues a refresh token for the code grant
      // (fosite RefreshTokenScopes: []), with or without offline_access.
      async issueRefreshToken(ctx, client) {
        return client.grantTypeAllowed('refresh_token');
      },
      rotateRefreshToken: () => true, // fosite rotates refresh tokens on every use
      // No consent screen: grant whatever was asked, like Pocket ID for a
      // client the user already authorized.
      async loadExistingGrant(ctx) {
        const { oidc } = ctx;
        const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
        let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
        if (!grant || grant.accountId !== oidc.session.accountId) {
          grant = new oidc.provider.Grant({ accountId: oidc.session.accountId, clientId: oidc.client.clientId });
        }
        const requested = [...oidc.requestParamOIDCScopes];
        if (requested.length) grant.addOIDCScope(requested.join(' '));
        await grant.save();
        state.authorizedClients.add(`${oidc.session.accountId}|${oidc.client.clientId}`);
        return grant;
      },
      async findAccount(ctx, sub) {
        const user = usersBySub.get(sub);
        // A disabled user is not found: a refresh then fails with
        // invalid_grant, as Pocket ID refuses disabled users' tokens.
        if (!user || user.disabled) return undefined;
        return {
          accountId: sub,
          // oidc-provider masks these by the granted scopes (claims mapping above).
          async claims() { return userClaims(user); },
        };
      },
      interactions: {
        url: (ctx, interaction) => `/interaction/${interaction.uid}`,
      },
      ttl: {
        AccessToken: 3600,
        AuthorizationCode: 15 * 60, // fosite default
        IdToken: 3600,
        RefreshToken: 30 * 24 * 3600,
        Interaction: 3600,
        Session: 14 * 24 * 3600,
        Grant: 365 * 24 * 3600,
      },
      clientBasedCORS: () => false,
      async renderError(ctx, out) {
        ctx.type = 'html';
        ctx.body = errorPage(out.error, out.error_description);
      },
    });

    // Trust X-Forwarded-Proto/Host from a fronting proxy (Envoy, Istio) so that
    // cookies get `Secure` and redirects keep the public scheme and host.
    provider.proxy = true;

    // Pocket ID's ID token carries `type: "id-token"` (it refuses access
    // tokens as id_token_hint by this claim), a `jti`, and always `amr` and
    // `auth_time`; oidc-provider only adds the last two when requested.
    const originalIssue = provider.IdToken.prototype.issue;
    provider.IdToken.prototype.issue = function issue(opts = {}) {
      if (opts.use === 'idtoken') {
        this.set('type', 'id-token');
        this.set('jti', crypto.randomUUID());
        if (this.available.amr !== undefined) this.set('amr', this.available.amr);
        if (this.available.auth_time !== undefined) this.set('auth_time', this.available.auth_time);
      }
      return originalIssue.call(this, opts);
    };

    provider.on('server_error', (ctx, err) => {
      console.error(`[pocket-id stand-in] server error on ${ctx.method} ${ctx.path}:`, err);
    });
    if (verbose) {
      for (const event of ['authorization.error', 'grant.error', 'userinfo.error', 'introspection.error', 'discovery.error', 'jwks.error']) {
        provider.on(event, (ctx, err) => console.error(`[pocket-id stand-in] ${event}: ${err.message} ${err.error_description ?? ''}`));
      }
    }

    // provider.use() inserts before oidc-provider's router, in this order.
    provider.use(logAndFaults);
    provider.use(shims);
    provider.use(ownRoutes);
    return provider;
  }

  function errorPage(error, description) {
    return page('Pocket ID (stand-in): error', `<h1>Something went wrong</h1>
<p><strong>${htmlEscape(error ?? 'error')}</strong></p><p>${htmlEscape(description ?? '')}</p>
<small>Pocket ID stand-in error page; nothing is sent back to the application.</small>`);
  }

  // ---- middleware: request log and fault injection ----------------------

  function classify(path) {
    switch (path) {
      case PATHS.authorization: return 'authorize';
      case PATHS.token: return 'token';
      case PATHS.userinfo: return 'userinfo';
      case PATHS.introspection: return 'introspect';
      case PATHS.endSession: return 'end-session';
      case PATHS.revocation: return 'revocation';
      case PATHS.discovery:
      case PATHS.discoveryOAuth: return 'discovery';
      case PATHS.jwks: return 'jwks';
      default: return undefined;
    }
  }

  function delay(ms, res) {
    return new Promise((resolve) => {
      const entry = {};
      const done = () => {
        clearTimeout(entry.timer);
        pendingDelays.delete(entry);
        res.off('close', done);
        resolve();
      };
      entry.timer = setTimeout(done, ms);
      entry.cancel = done;
      pendingDelays.add(entry);
      // Stop waiting as soon as the caller gives up. (The response's 'close'
      // means the connection went away; the request's fires once its body is read.)
      res.once('close', done);
    });
  }

  function takeFault(endpoint) {
    const mode = faults[endpoint];
    if (!mode) return null;
    const opts = faultOptions[endpoint];
    if (opts?.times !== undefined) {
      opts.times -= 1;
      if (opts.times <= 0) {
        faults[endpoint] = null;
        delete faultOptions[endpoint];
      }
    }
    return { mode, ms: opts?.ms ?? slowMs };
  }

  async function logAndFaults(ctx, next) {
    const endpoint = classify(ctx.path);
    let entry;
    if (endpoint && LOGGED_ENDPOINTS.has(endpoint)) {
      entry = {
        endpoint,
        method: ctx.method,
        path: ctx.path,
        query: plainObject(ctx.query),
        headers: { ...ctx.req.headers },
        form: undefined,
        at: Date.now(),
      };
      requests.push(entry);
      ctx.state.logEntry = entry;
    }

    const fault = endpoint && FAULTABLE_ENDPOINTS.has(endpoint) ? takeFault(endpoint) : null;
    if (fault && fault.mode !== 'slow') {
      // The provider will not see this request: read the form ourselves for the log.
      if (entry && ctx.method === 'POST' && ctx.is('application/x-www-form-urlencoded')) {
        entry.form = await readForm(ctx.req).catch(() => undefined);
      }
      entry && (entry.fault = fault.mode);
      switch (fault.mode) {
        case 'drop':
          ctx.respond = false;
          ctx.req.socket.destroy();
          return;
        case '500':
          ctx.status = 500;
          ctx.body = { error: 'server_error', error_description: 'stand-in injected fault (500)' };
          return;
        case '400':
          ctx.status = 400;
          ctx.body = { error: 'invalid_grant', error_description: 'stand-in injected fault (400)' };
          return;
        case 'junk':
          ctx.status = 200;
          ctx.type = 'text/html';
          ctx.body = '<html>oops</html>';
          return;
        case 'json-garbage':
          ctx.status = 200;
          ctx.body = { foo: 1 };
          return;
        default:
          throw new Error(`unreachable fault mode ${fault.mode}`);
      }
    }
    if (fault?.mode === 'slow') {
      if (entry) entry.fault = 'slow';
      await delay(fault.ms, ctx.res);
      if (ctx.req.socket.destroyed || ctx.res.destroyed || !listening) {
        ctx.respond = false;
        ctx.req.socket.destroy();
        return;
      }
    }

    await next();

    // oidc-provider parsed the form itself (ctx.oidc.body); copy it for the log.
    if (entry && entry.form === undefined && entry.method === 'POST') {
      entry.form = ctx.state.parsedForm ?? (ctx.oidc?.body ? { ...ctx.oidc.body } : undefined);
    }
    if (entry) {
      entry.status = ctx.status;
      // What the provider answered (tokens included), for tests that check
      // where such values end up.
      const body = ctx.body;
      if (body && typeof body === 'object' && !Buffer.isBuffer(body) && typeof body.pipe !== 'function') {
        entry.response = JSON.parse(JSON.stringify(body));
      }
    }
  }

  // ---- middleware: Pocket ID shape of responses ---------------------------

  async function shims(ctx, next) {
    // Pocket ID serves POST /authorize too. oidc-provider only does with
    // `enableHttpPostMethods`, which forces SameSite=None cookies (dropped by
    // browsers on plain http). So a form POST is replayed as the equivalent GET.
    if (ctx.path === PATHS.authorization && ctx.method === 'POST') {
      const form = ctx.is('application/x-www-form-urlencoded') ? await readForm(ctx.req) : {};
      ctx.state.parsedForm = form;
      ctx.method = 'GET';
      ctx.querystring = new URLSearchParams({ ...plainObject(ctx.query), ...form }).toString();
    }

    await next();

    const body = ctx.body;
    if (!body || typeof body !== 'object' || Buffer.isBuffer(body) || typeof body.pipe === 'function') return;

    if (ctx.path === PATHS.token && ctx.status === 200 && body.token_type === 'Bearer') {
      // fosite writes the token type lower-case since Pocket ID v2.10.
      body.token_type = 'bearer';
    }

    if ((ctx.path === PATHS.discovery || ctx.path === PATHS.discoveryOAuth) && ctx.status === 200) {
      // Pocket ID builds these from APP_URL / INTERNAL_APP_URL, never from the
      // request, so a request via another host or a proxy sees the same URLs.
      const front = state.issuer;
      const back = state.internalBaseUrl ?? state.issuer;
      Object.assign(body, {
        issuer: state.issuer,
        authorization_endpoint: front + PATHS.authorization,
        end_session_endpoint: front + PATHS.endSession,
        token_endpoint: back + PATHS.token,
        userinfo_endpoint: back + PATHS.userinfo,
        introspection_endpoint: back + PATHS.introspection,
        jwks_uri: back + PATHS.jwks,
        pushed_authorization_request_endpoint: back + PATHS.par,
        scopes_supported: ['openid', 'profile', 'email', 'groups', 'offline_access'],
        claims_supported: [...CLAIMS_SUPPORTED],
        // Pocket ID advertises only the alg of its current key.
        id_token_signing_alg_values_supported: [currentAlg()],
        authorization_response_iss_parameter_supported: true,
      });
    }
  }

  // ---- middleware: routes oidc-provider does not have ---------------------

  async function ownRoutes(ctx, next) {
    const { path } = ctx;

    const interaction = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(path);
    if (interaction) {
      await handleInteraction(ctx, Boolean(interaction[2]));
      return;
    }

    if (path === PATHS.endSession && (ctx.method === 'GET' || ctx.method === 'POST')) {
      await handleEndSession(ctx);
      return;
    }

    if (path === PATHS.logout) {
      await handleLogoutPage(ctx);
      return;
    }

    const picture = /^\/api\/users\/([^/]+)\/profile-picture\.png$/.exec(path);
    if (picture && ctx.method === 'GET' && usersBySub.has(picture[1])) {
      ctx.type = 'image/png';
      ctx.body = PIXEL_PNG;
      return;
    }

    await next();
  }

  // Headless login. Which user signs in is chosen by the `standin_user`
  // cookie (a username or a sub; no page at all); without it a small page lists the users as
  // buttons, for a human or a headless browser. `standin_deny=1` makes the
  // provider answer access_denied instead.
  async function handleInteraction(ctx, isLoginPost) {
    const { provider } = state;
    let details;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch (err) {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = errorPage('invalid_request', `Sign-in session not found or expired (${err.message}).`);
      return;
    }
    const { prompt, params, uid } = details;

    const finish = async (result) => {
      const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
      ctx.status = 303;
      ctx.redirect(returnTo);
    };

    if (prompt.name === 'consent') {
      // Only reached with prompt=consent: grant everything that is missing.
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
      if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
      const grantId = await grant.save();
      state.authorizedClients.add(`${details.session.accountId}|${params.client_id}`);
      await finish({ consent: { grantId } });
      return;
    }

    if (prompt.name !== 'login') {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = errorPage('invalid_request', `unsupported prompt ${prompt.name}`);
      return;
    }

    let username;
    // Plain cookies set by the test browser: not signed with the provider's keys.
    let deny = ctx.cookies.get('standin_deny', { signed: false }) === '1';
    if (isLoginPost) {
      if (ctx.method !== 'POST') { ctx.status = 405; return; }
      const form = await readForm(ctx.req);
      if (form.deny) deny = true;
      username = form.user;
    } else {
      username = ctx.cookies.get('standin_user', { signed: false });
    }

    if (deny) {
      // NOTE: real Pocket ID shows access denials on its own error page and
      // does not redirect back; this is a stand-in extension for RP tests.
      await finish({ error: 'access_denied', error_description: 'The user denied access (stand-in)' });
      return;
    }

    if (username === undefined || username === '') {
      ctx.type = 'html';
      ctx.body = loginPage(uid, params.client_id);
      return;
    }

    // By username, or by sub for a username no cookie can carry (CR, LF, ...).
    const user = usersByName.get(username) ?? usersBySub.get(username);
    if (!user || user.disabled) {
      // Pocket ID shows its own error page; nothing goes back to the RP.
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = errorPage('access_denied', user ? `User "${username}" is disabled.` : `Unknown user "${username}".`);
      return;
    }

    // amr "phr": phishing-resistant hardware key, i.e. a passkey login.
    await finish({ login: { accountId: user.sub, amr: ['phr'] } });
  }

  function loginPage(uid, clientId) {
    const buttons = users.map((u) => `<button type="submit" name="user" value="${htmlEscape(u.username)}">${htmlEscape(u.username)}
<small>${htmlEscape(u.email ?? '(no email)')} · groups: ${htmlEscape((u.groups ?? []).join(', ') || '(none)')}</small></button>`).join('\n');
    return page('Sign in to Pocket ID (stand-in)', `<h1>Sign in to Pocket ID (stand-in)</h1>
<p>Application <code>${htmlEscape(clientId)}</code> wants you to sign in. Choose a user:</p>
<form method="post" action="/interaction/${htmlEscape(uid)}/login">
${buttons}
<button type="submit" name="deny" value="1">Deny (access_denied)</button>
</form>`);
  }

  // Pocket ID's RP-initiated logout (end_session_handler.go): no confirmation
  // page on the happy path. A valid id_token_hint ends the session and 302s to
  // the client's logout callback with `state`; anything wrong 302s to /logout,
  // where the user would confirm manually.
  async function handleEndSession(ctx) {
    const { provider } = state;
    const form = ctx.method === 'POST' && ctx.is('application/x-www-form-urlencoded') ? await readForm(ctx.req) : undefined;
    if (ctx.state.logEntry) ctx.state.logEntry.form = form;
    const params = ctx.method === 'GET' ? plainObject(ctx.query) : (form ?? {});

    const call = {
      method: ctx.method,
      query: plainObject(ctx.query),
      form,
      params,
      hintValid: false,
      clientId: undefined,
      sub: undefined,
      sessionEnded: false,
      redirectTo: undefined,
      error: undefined,
      at: Date.now(),
    };
    endSessionCalls.push(call);

    let callbackUrl;
    try {
      if (!params.id_token_hint) throw new Error('id_token_hint is required');
      // Like Pocket ID: verified with the current key only, expiry ignored
      // (OIDC RP-Initiated Logout), and it must be an ID token.
      const current = state.keys[0];
      let payload;
      try {
        const verified = await jose.compactVerify(params.id_token_hint, current.publicKey, { algorithms: [current.alg] });
        payload = JSON.parse(new TextDecoder().decode(verified.payload));
      } catch (err) {
        throw new Error(`id_token_hint does not verify: ${err.message}`);
      }
      if (payload.iss !== state.issuer) throw new Error('id_token_hint has the wrong issuer');
      if (typeof payload.iat === 'number' && payload.iat > epochTime() + 60) throw new Error('id_token_hint issued in the future');
      if (payload.type !== 'id-token') throw new Error('id_token_hint is not an ID token');
      const clientId = Array.isArray(payload.aud) ? payload.aud[0] : payload.aud;
      if (!clientId || !payload.sub) throw new Error('id_token_hint lacks aud or sub');
      call.hintValid = true;
      call.clientId = clientId;
      call.sub = payload.sub;
      if (params.client_id && params.client_id !== clientId) throw new Error('client_id does not match the id_token_hint');

      const session = await provider.Session.get(ctx);
      if (session.accountId && session.accountId !== payload.sub) throw new Error('id_token_hint is for another user');
      if (!state.authorizedClients.has(`${payload.sub}|${clientId}`)) throw new Error('user has not authorized this client');

      const client = clientConfigs.find((c) => c.client_id === clientId);
      if (!client) throw new Error('unknown client');
      const registered = client.post_logout_redirect_uris ?? [];
      if (registered.length === 0) callbackUrl = '';
      else if (params.post_logout_redirect_uri === undefined || params.post_logout_redirect_uri === '') [callbackUrl] = registered;
      else if (registered.includes(params.post_logout_redirect_uri)) callbackUrl = params.post_logout_redirect_uri;
      else throw new Error('post_logout_redirect_uri is not registered');

      // Revoke the client's grants (and so its access and refresh tokens) for the user...
      for (const [key, grant] of store.entries('Grant:')) {
        if (grant.accountId === payload.sub && grant.clientId === clientId) {
          store.delete(key);
          revokeGrantTokens(store, grant.jti);
        }
      }
      // ...and end the browser's Pocket ID session, if it sent one.
      if (session.accountId) {
        await session.destroy();
        call.sessionEnded = true;
      }
      ctx.cookies.set(provider.cookieName('session'), null, { path: '/', httpOnly: true, sameSite: 'lax', signed: true });
    } catch (err) {
      call.error = err.message;
      callbackUrl = undefined;
    }

    let location = `${state.issuer}${PATHS.logout}`;
    if (callbackUrl) {
      const url = new URL(callbackUrl);
      if (params.state) url.searchParams.set('state', params.state);
      location = url.href;
    }
    call.redirectTo = location;
    ctx.status = 302;
    ctx.redirect(location);
  }

  // Pocket ID's own logout page, where an unfinished RP logout lands.
  async function handleLogoutPage(ctx) {
    const { provider } = state;
    if (ctx.method === 'POST') {
      const session = await provider.Session.get(ctx);
      if (session.accountId) await session.destroy();
      ctx.cookies.set(provider.cookieName('session'), null, { path: '/', httpOnly: true, sameSite: 'lax', signed: true });
      ctx.type = 'html';
      ctx.body = page('Signed out', '<h1>You have been signed out of Pocket ID (stand-in)</h1>');
      return;
    }
    ctx.type = 'html';
    ctx.body = page('Sign out of Pocket ID (stand-in)', `<h1>Sign out of Pocket ID (stand-in)</h1>
<p>Do you want to sign out?</p><form method="post" action="${PATHS.logout}"><button type="submit">Sign out</button></form>`);
  }

  // ---- bring it up ------------------------------------------------------

  function rebuild() {
    state.provider = buildProvider();
    state.callback = state.provider.callback();
  }
  rebuild();

  // ---- handle -------------------------------------------------------------

  const handle = {
    get issuer() { return state.issuer; },
    port,
    url: `${scheme}://${publicHost}:${port}`,
    get provider() { return state.provider; },
    users,
    faults,
    requests,
    endSessionCalls,

    /** Inject a failure on an endpoint until cleared (or for `times` requests). */
    setFault(endpoint, mode, { times, ms } = {}) {
      if (!FAULTABLE_ENDPOINTS.has(endpoint)) throw new TypeError(`unknown endpoint ${endpoint}`);
      if (mode !== null && !FAULT_MODES.has(mode)) throw new TypeError(`unknown fault mode ${mode}`);
      faults[endpoint] = mode;
      if (mode === null || (times === undefined && ms === undefined)) delete faultOptions[endpoint];
      else faultOptions[endpoint] = { times, ms };
    },
    clearFaults() {
      for (const k of Object.keys(faults)) faults[k] = null;
      for (const k of Object.keys(faultOptions)) delete faultOptions[k];
    },
    clearRequests() { requests.length = 0; endSessionCalls.length = 0; },

    /** Public JWKS as served. */
    jwks() { return { keys: state.keys.map((k) => ({ ...k.publicJwk })) }; },
    get currentKid() { return state.keys[0].kid; },
    get currentAlg() { return state.keys[0].alg; },

    /** New signing key; it signs new ID tokens. The old public key stays in the JWKS if keepOld. */
    async rotateKey({ alg = currentAlg(), keepOld = true } = {}) {
      const key = await generateSigningKey(alg);
      state.keys = keepOld ? [key, ...state.keys] : [key];
      // oidc-provider's keystore is fixed at construction, so build a new
      // Provider. All state lives in `store` and the cookie keys are reused,
      // so sessions, grants and tokens carry over.
      rebuild();
      return { kid: key.kid, alg: key.alg, publicJwk: { ...key.publicJwk } };
    },

    /** Admin change: a user's groups from now on (userinfo and refreshed tokens). */
    setUserGroups(username, groups) {
      const user = usersByName.get(username);
      if (!user) throw new TypeError(`unknown user ${username}`);
      user.groups = [...groups];
    },

    /**
     * Admin change: disable (or enable again) a user. A disabled user cannot
     * sign in, and their refresh tokens are refused (invalid_grant).
     */
    setUserDisabled(username, disabled = true) {
      const user = usersByName.get(username);
      if (!user) throw new TypeError(`unknown user ${username}`);
      user.disabled = disabled;
    },

    /** Refresh tokens issued and still valid (not rotated or revoked). */
    liveRefreshTokens() {
      return [...store.entries('RefreshToken:')].filter(([, t]) => !t.consumed).map(([key]) => key.slice('RefreshToken:'.length));
    },

    /** Live provider sessions, optionally only those of one user (by username or sub). */
    sessions(user) {
      const sub = user === undefined ? undefined : (usersByName.get(user)?.sub ?? user);
      const out = [];
      for (const [, s] of store.entries('Session:')) {
        if (!s.accountId) continue;
        if (sub !== undefined && s.accountId !== sub) continue;
        out.push({ uid: s.uid, accountId: s.accountId, username: usersBySub.get(s.accountId)?.username, loginTs: s.loginTs });
      }
      return out;
    },

    /** Stop listening (drops open connections). */
    async close() {
      if (!listening) return;
      listening = false;
      for (const d of [...pendingDelays]) d.cancel();
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },

    /** Listen again on the same port after close(); state is kept (like a Pocket ID restart with its DB). */
    async start() {
      if (listening) return;
      await listen(port);
    },
  };
  return handle;
}
