// A whole test deployment: the Pocket ID stand-in, an echo upstream, and real
// Envoy loading the built tinyauth_wasm.wasm — all on 127.0.0.1 with ports
// picked at run time. Hosts (auth/app/id .example.test) resolve to 127.0.0.1 in
// the test browser.

import { startPocketId } from '../pocket-id/standin.mjs';
import { Browser, apiClient } from './client.mjs';
import { buildEnvoyConfig, startEnvoy } from './envoy.mjs';
import { freePort } from './ports.mjs';
import { startEchoUpstream } from './upstream.mjs';

export const SECRET = 'e2e-secret-e2e-secret-e2e-secret-0123456789';
export const CLIENT_ID = 'tinyauth';
export const CLIENT_SECRET = 'pocket-id-client-secret';

/** The stand-in's client registration for the filter at `appUrl`. */
export function defaultClients(appUrl) {
  return [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [`${appUrl}/api/oauth/callback/generic`, `${appUrl}/api/oauth/callback/second`],
      post_logout_redirect_uris: [`${appUrl}/logout/done`, `${appUrl}/`],
    },
  ];
}

/**
 * The filter configuration every suite starts from. `app` is the Envoy port.
 * @param {{port: number, issuer: string}} p
 */
export function baseFilterConfig({ port, issuer }) {
  return {
    appUrl: `http://auth.example.test:${port}`,
    secret: SECRET,
    oauth: {
      providers: {
        generic: {
          name: 'Pocket ID',
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          authUrl: `${issuer}/authorize`,
          tokenUrl: `${issuer}/api/oidc/token`,
          userInfoUrl: `${issuer}/api/oidc/userinfo`,
          scopes: 'openid email profile groups',
          cluster: 'pocket_id',
          timeoutMs: 2000,
        },
      },
    },
    apps: {
      admin: { oauth: { groups: 'admins' } },
      whoami: {},
    },
  };
}

/**
 * Starts the stand-in, the echo upstream and Envoy.
 *
 * @param {import('node:test').TestContext | object} t  test (or suite) context, for logs and cleanup
 * @param {object} [opts]
 * @param {(config: any, ctx: {port: number, issuer: string}) => any} [opts.customize]  edit the filter config
 * @param {object} [opts.provider]      extra startPocketId options
 * @param {object[]|((appUrl: string) => object[])} [opts.clients]  override the stand-in's clients
 * @param {number} [opts.port]          the Envoy port (default: a free one)
 * @param {object} [opts.op]            use this (already started) stand-in
 * @param {number} [opts.concurrency]   Envoy workers (default 2: sessions must work across VMs)
 * @param {Record<string,string>} [opts.envVars]
 * @param {string} [opts.name]
 * @param {boolean} [opts.useRemoteAddress]  Envoy HCM use_remote_address (default true)
 * @param {object[]} [opts.extraClusters]  more Envoy clusters ({name, host, port, tls?})
 * @param {(ctx: object) => object[]} [opts.extraClustersFor]  more clusters, knowing ports and the stand-in
 * @param {(ctx: object) => Record<string, string>} [opts.envVarsFor]  VM environment, knowing ports and issuer
 * @param {string[]} [opts.providers]  provider IDs to wait for when the filter config is a string
 * @param {boolean} [opts.waitReady]  wait until every VM has the providers' keys (default true)
 * @param {object} [opts.hcm]        more HttpConnectionManager fields (buildEnvoyConfig's hcmOptions)
 * @param {boolean} [opts.accessLog]  Envoy's access log to stderr (default true)
 */
export async function startStack(t, opts = {}) {
  const port = opts.port ?? (await freePort());
  const appUrl = `http://auth.example.test:${port}`;
  const op =
    opts.op ??
    (await startPocketId({
      port: 0,
      issuerHost: 'id.example.test',
      clients: typeof opts.clients === 'function' ? opts.clients(appUrl) : opts.clients ?? defaultClients(appUrl),
      ...(opts.provider ?? {}),
    }));
  const upstream = await startEchoUpstream();
  const ctx = { port, issuer: op.issuer, op };
  let filterConfig = baseFilterConfig(ctx);
  if (opts.customize) filterConfig = opts.customize(filterConfig, ctx) ?? filterConfig;
  const config = buildEnvoyConfig({
    listenPort: port,
    filterConfig,
    envVars: opts.envVarsFor ? opts.envVarsFor(ctx) : opts.envVars,
    useRemoteAddress: opts.useRemoteAddress ?? true,
    hcmOptions: opts.hcm,
    accessLog: opts.accessLog ?? true,
    clusters: [
      { name: 'app', host: '127.0.0.1', port: upstream.port },
      { name: 'pocket_id', host: '127.0.0.1', port: op.port },
      ...(opts.extraClusters ?? []),
      ...(opts.extraClustersFor ? opts.extraClustersFor(ctx) : []),
    ],
    upstreamCluster: 'app',
  });
  let envoy;
  try {
    envoy = await startEnvoy({ config, t, name: opts.name ?? 'envoy', concurrency: opts.concurrency ?? 2 });
  } catch (err) {
    await op.close();
    await upstream.close();
    throw err;
  }
  if (opts.waitReady !== false) {
    try {
      const providers = typeof filterConfig === 'string' ? (opts.providers ?? ['generic']) : filterConfig;
      await waitProvidersReady(envoy, providers, opts.concurrency ?? 2);
    } catch (err) {
      await envoy.stop();
      await op.close();
      await upstream.close();
      throw err;
    }
  }
  const stack = {
    port,
    appUrl,
    op,
    upstream,
    envoy,
    filterConfig,
    /** URL on an app host, e.g. url('admin', '/x'). */
    url: (app, path = '/') => `http://${app}.example.test:${port}${path}`,
    /** A browser that signs in to the stand-in as `user` (cookie on the provider's host). */
    browser(user, browserOpts = {}) {
      const b = new Browser(browserOpts);
      if (user) b.jar.set('standin_user', user, { url: op.issuer });
      return b;
    },
    api: (o = {}) => apiClient(o),
    async stop() {
      await envoy.stop();
      await op.close();
      await upstream.close();
    },
  };
  return stack;
}

/**
 * Waits until every Wasm VM (Envoy's main thread and each worker) has loaded
 * each verifying provider's keys: discovery runs per VM, and a request that
 * lands on a VM still discovering gets a 503.
 */
export async function waitProvidersReady(envoy, filterConfig, concurrency, timeoutMs = 20000) {
  const providers = Array.isArray(filterConfig)
    ? filterConfig
    : Object.entries(filterConfig.oauth?.providers ?? {})
        .filter(([, p]) => p.verifyIdToken !== false)
        .map(([id]) => id);
  const vms = concurrency + 1;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const logs = envoy.logs();
    const missing = providers.filter((id) => {
      const threads = new Set();
      const re = new RegExp(`\\]\\[(\\d+)\\]\\[\\w+\\]\\[wasm\\].*provider ${id}: \\d+ signing key\\(s\\) loaded`, 'g');
      for (const m of logs.matchAll(re)) threads.add(m[1]);
      return threads.size < vms;
    });
    if (missing.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`providers ${missing.join(', ')} not ready on all ${vms} VMs after ${timeoutMs} ms:\n${envoy.tail()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Logs `browser` in by opening `url` and following every redirect through the
 * login page button. Returns the final response.
 * @param {Browser} browser @param {string} url
 */
export async function loginVia(browser, url) {
  const first = await browser.get(url);
  if (first.status !== 200 || !first.body.includes('Login with')) return first;
  const href = /href="([^"]*\/api\/oauth\/start\/[^"]*)"/.exec(first.body)?.[1];
  if (!href) throw new Error(`no provider button on the login page:\n${first.body}`);
  return browser.get(href.replaceAll('&amp;', '&'));
}

/** The session cookie in a jar, if any. */
export function sessionCookie(browser) {
  return browser.jar.list().find((c) => c.name.startsWith('tinyauth-session-'));
}

/** Headers the upstream saw on its last request. */
export function echoed(response) {
  return JSON.parse(response.body).headers;
}
