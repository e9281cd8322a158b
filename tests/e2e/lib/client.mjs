// A browser-like HTTP client for the e2e tests: a cookie jar with the RFC 6265
// (and the parts of RFC 6265bis that Chrome enforces) storage and retrieval
// rules, navigation-style request headers, and redirect following the way a
// browser follows a top-level navigation. Node built-ins only.
//
// Every host name resolves to 127.0.0.1 (configurable), so tests can use
// realistic URLs such as http://app.example.test:<port>/ and the Host header
// the server sees is exactly the URL's host:port.
//
// Deliberate simplifications (documented so tests don't assume more):
//   * Public suffixes: only single-label domains (e.g. "test", "com") are
//     treated as public suffixes; "site" (for SameSite / Sec-Fetch-Site) is
//     scheme + the last two labels of the host name (IP literals: the IP).
//   * SameSite: Strict cookies are sent only when the request is same-site
//     (see below); Lax and unspecified ("Default", which Chrome treats as Lax)
//     cookies are sent on same-site requests and on cross-site *top-level
//     navigations with a safe method* (GET/HEAD) — every browser.get() is such
//     a navigation, so Lax cookies ARE sent on cross-site GET redirects, which
//     is all our login flows use. A cross-site POST navigation does not carry
//     Lax/Default cookies (Chrome's 2-minute "Lax+POST" grace is not modelled).
//     None cookies are always sent (and must be Secure to be stored at all).
//   * A navigation started without `from` is "browser-initiated" (typed into
//     the address bar): Sec-Fetch-Site is `none` on every hop and all hops are
//     same-site for cookies. With `from: <url>` the initiator is that page.
//   * Secure cookies are sent only over https:, and (as Chrome does) a
//     Set-Cookie with `Secure` received over plain http: is rejected. There is
//     no "localhost is secure" exception. Rejections are recorded in
//     jar.rejected with a reason.
//   * Sec-Fetch-* / sec-ch-ua headers are sent on every navigation, also over
//     plain http (real Chrome sends them only to potentially trustworthy
//     origins: https or localhost).
//   * No HTTP cache, no HSTS, no per-domain cookie count limits.

import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import dns from 'node:dns';
import zlib from 'node:zlib';

/** A realistic desktop Chrome (Linux) user agent. */
export const CHROME_UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
/** Accept header Chrome sends for document navigations. */
export const NAV_ACCEPT =
  'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7';
/** curl's user agent used by apiClient(). */
export const CURL_UA = 'curl/8.5.0';

const DEFAULT_TIMEOUT_MS = 15000;

// ===================================================================== dates

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/**
 * Parse a cookie date (RFC 6265 §5.1.1 algorithm, as browsers do; more lenient
 * than Date.parse in some ways and stricter in others).
 * @param {string} str
 * @returns {number|null} epoch milliseconds, or null if not a valid cookie date
 */
export function parseCookieDate(str) {
  // delimiter = %x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E
  const tokens = String(str).split(/[\x09\x20-\x2F\x3B-\x40\x5B-\x60\x7B-\x7E]+/).filter(Boolean);
  let time = null;
  let day = null;
  let month = null;
  let year = null;
  for (const tok of tokens) {
    let m;
    if (time === null && (m = /^(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\D.*)?$/.exec(tok))) {
      time = [Number(m[1]), Number(m[2]), Number(m[3])];
      continue;
    }
    if (day === null && (m = /^(\d{1,2})(?:\D.*)?$/.exec(tok))) {
      day = Number(m[1]);
      continue;
    }
    if (month === null && tok.length >= 3) {
      const i = MONTHS.indexOf(tok.slice(0, 3).toLowerCase());
      if (i >= 0) {
        month = i;
        continue;
      }
    }
    if (year === null && (m = /^(\d{2,4})(?:\D.*)?$/.exec(tok))) {
      year = Number(m[1]);
      continue;
    }
  }
  if (time === null || day === null || month === null || year === null) return null;
  if (year >= 70 && year <= 99) year += 1900;
  else if (year >= 0 && year <= 69) year += 2000;
  if (day < 1 || day > 31 || year < 1601 || time[0] > 23 || time[1] > 59 || time[2] > 59) return null;
  const ms = Date.UTC(year, month, day, time[0], time[1], time[2]);
  if (new Date(ms).getUTCDate() !== day) return null; // e.g. 31 Feb
  return ms;
}

// ============================================================ Set-Cookie parsing

/**
 * @typedef {object} ParsedSetCookie
 * @property {string} name
 * @property {string} value
 * @property {number|null} expires   from Expires (epoch ms), null if absent/invalid
 * @property {number|null} maxAge    from Max-Age (seconds), null if absent/invalid
 * @property {string|null} domain    lower-cased, leading dot removed; null if absent
 * @property {string|null} path      null if absent or not starting with '/'
 * @property {boolean} secure
 * @property {boolean} httpOnly
 * @property {'Strict'|'Lax'|'None'|'Default'} sameSite  'Default' = absent or unrecognised
 */

/**
 * Parse one Set-Cookie header value (RFC 6265 §5.2 / 6265bis).
 * @param {string} header
 * @returns {ParsedSetCookie|null} null if the cookie must be ignored
 */
export function parseSetCookie(header) {
  const str = String(header);
  const semi = str.indexOf(';');
  const nvp = semi === -1 ? str : str.slice(0, semi);
  const rest = semi === -1 ? '' : str.slice(semi + 1);
  // 6265bis: control characters (other than HTAB) make the whole cookie invalid.
  if (/[\x00-\x08\x0A-\x1F\x7F]/.test(nvp)) return null;
  let name;
  let value;
  const eq = nvp.indexOf('=');
  if (eq === -1) {
    // 6265bis (and Chrome): "foo" is a cookie with an empty name and value "foo".
    name = '';
    value = trimWsp(nvp);
  } else {
    name = trimWsp(nvp.slice(0, eq));
    value = trimWsp(nvp.slice(eq + 1));
  }
  if (name === '' && value === '') return null;
  /** @type {ParsedSetCookie} */
  const c = {
    name,
    value,
    expires: null,
    maxAge: null,
    domain: null,
    path: null,
    secure: false,
    httpOnly: false,
    sameSite: 'Default',
  };
  for (const av of rest.split(';')) {
    if (!av.trim()) continue;
    const i = av.indexOf('=');
    const an = trimWsp(i === -1 ? av : av.slice(0, i)).toLowerCase();
    const aval = i === -1 ? '' : trimWsp(av.slice(i + 1));
    if (aval.length > 1024) continue; // 6265bis: over-long attribute values are ignored
    switch (an) {
      case 'expires': {
        const t = parseCookieDate(aval);
        if (t !== null) c.expires = t;
        break;
      }
      case 'max-age': {
        if (/^-?\d+$/.test(aval)) c.maxAge = Number(aval);
        break;
      }
      case 'domain': {
        if (aval === '') break; // SHOULD ignore the attribute
        c.domain = (aval.startsWith('.') ? aval.slice(1) : aval).toLowerCase();
        break;
      }
      case 'path': {
        c.path = aval.startsWith('/') ? aval : null;
        break;
      }
      case 'secure':
        c.secure = true;
        break;
      case 'httponly':
        c.httpOnly = true;
        break;
      case 'samesite': {
        const v = aval.toLowerCase();
        c.sameSite = v === 'strict' ? 'Strict' : v === 'lax' ? 'Lax' : v === 'none' ? 'None' : 'Default';
        break;
      }
      default:
        break; // unknown attributes (Priority, Partitioned, ...) are ignored
    }
  }
  return c;
}

function trimWsp(s) {
  return s.replace(/^[ \t]+|[ \t]+$/g, '');
}

// ================================================================ URL helpers

/** Canonical host of a URL (lower-case, IPv6 without brackets). */
function hostOf(u) {
  return u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

function isIpHost(h) {
  return net.isIP(h.replace(/^\[|\]$/g, '')) !== 0;
}

/**
 * RFC 6265 §5.1.3 domain-match: `host` domain-matches `domain`.
 * @param {string} host @param {string} domain
 */
export function domainMatch(host, domain) {
  host = host.toLowerCase();
  domain = domain.toLowerCase();
  if (host === domain) return true;
  return !isIpHost(host) && host.endsWith(domain) && host[host.length - domain.length - 1] === '.';
}

/**
 * RFC 6265 §5.1.4 default-path of a request path.
 * @param {string} pathname
 */
export function defaultPath(pathname) {
  if (!pathname || !pathname.startsWith('/')) return '/';
  const i = pathname.lastIndexOf('/');
  return i === 0 ? '/' : pathname.slice(0, i);
}

/**
 * RFC 6265 §5.1.4 path-match: `requestPath` path-matches `cookiePath`.
 * @param {string} requestPath @param {string} cookiePath
 */
export function pathMatch(requestPath, cookiePath) {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/** Treat single-label domains ("test", "com", "localhost") as public suffixes. */
function isPublicSuffix(domain) {
  return !isIpHost(domain) && !domain.includes('.');
}

/**
 * The "site" of a URL: scheme + registrable domain (approximated as the last
 * two labels; IP literals and single-label hosts are their own site).
 * @param {URL|string} url
 */
export function siteOf(url) {
  const u = typeof url === 'string' ? new URL(url) : url;
  const h = hostOf(u);
  const reg = isIpHost(h) ? h : h.split('.').slice(-2).join('.');
  return `${u.protocol}//${reg}`;
}

/** @param {URL|string} a @param {URL|string} b */
export function sameSite(a, b) {
  return siteOf(a) === siteOf(b);
}

/** @param {URL} a @param {URL} b */
function sameOrigin(a, b) {
  return a.origin === b.origin;
}

function isSecureScheme(u) {
  return u.protocol === 'https:' || u.protocol === 'wss:';
}

// ================================================================= cookie jar

/**
 * @typedef {object} Cookie
 * @property {string} name
 * @property {string} value
 * @property {string} domain      host (host-only) or Domain attribute value
 * @property {boolean} hostOnly   true: only sent to exactly `domain`
 * @property {string} path
 * @property {Date|null} expires  null = session cookie
 * @property {boolean} secure
 * @property {boolean} httpOnly
 * @property {'Strict'|'Lax'|'None'|'Default'} sameSite
 * @property {Date} creation
 */

/**
 * @typedef {object} CookieContext  how a request relates to its initiator
 * @property {boolean} [sameSite=true]  the request is same-site (see Browser)
 * @property {string} [method='GET']
 * @property {boolean} [topLevel=true]  top-level navigation (vs. subresource/API)
 */

/**
 * A cookie jar implementing RFC 6265's storage model (§5.3) and Cookie
 * header computation (§5.4), plus the 6265bis rules Chrome enforces
 * (SameSite, cookie prefixes, Secure only from secure origins, 4096-byte
 * name+value limit, "leave secure cookies alone").
 */
export class CookieJar {
  /**
   * @param {{now?: () => number}} [opts]  `now` lets tests move the clock (epoch ms)
   */
  constructor({ now = () => Date.now() } = {}) {
    this.now = now;
    /** @type {Array<{name:string,value:string,domain:string,hostOnly:boolean,path:string,expiry:number|null,secure:boolean,httpOnly:boolean,sameSite:'Strict'|'Lax'|'None'|'Default',creation:number,lastAccess:number,seq:number}>} */
    this._cookies = [];
    this._seq = 0;
    /** Set-Cookie headers that were refused: {setCookie, url, reason}. */
    this.rejected = /** @type {{setCookie: string, url: string, reason: string}[]} */ ([]);
  }

  _purgeExpired() {
    const now = this.now();
    this._cookies = this._cookies.filter((c) => c.expiry === null || c.expiry > now);
  }

  /**
   * Process one Set-Cookie header received in a response for `url`
   * (RFC 6265 §5.3). Returns whether it was stored (or, for an expiry in the
   * past, applied as a deletion) and why not.
   * @param {string} setCookie
   * @param {string|URL} url
   * @returns {{ok: boolean, reason?: string, deleted?: boolean}}
   */
  setCookie(setCookie, url) {
    const u = typeof url === 'string' ? new URL(url) : url;
    const reject = (reason) => {
      this.rejected.push({ setCookie, url: u.href, reason });
      return { ok: false, reason };
    };
    const p = parseSetCookie(setCookie);
    if (!p) return reject('unparseable or invalid characters');
    if (p.name.length + p.value.length > 4096) return reject('name+value longer than 4096 bytes');
    const host = hostOf(u);
    const now = this.now();

    let expiry = null;
    if (p.maxAge !== null) expiry = p.maxAge <= 0 ? -Infinity : now + p.maxAge * 1000;
    else if (p.expires !== null) expiry = p.expires;

    let domain = host;
    let hostOnly = true;
    if (p.domain !== null) {
      if (isPublicSuffix(p.domain)) {
        if (p.domain !== host) return reject(`Domain=${p.domain} is a public suffix`);
        // identical to the request host: treated as host-only
      } else if (!domainMatch(host, p.domain)) {
        return reject(`Domain=${p.domain} does not domain-match request host ${host}`);
      } else {
        domain = p.domain;
        hostOnly = false;
      }
    }
    const path = p.path ?? defaultPath(u.pathname);
    const secureOrigin = isSecureScheme(u);
    if (p.secure && !secureOrigin) return reject('Secure cookie set from a non-secure (http:) origin');
    if (p.sameSite === 'None' && !p.secure) return reject('SameSite=None without Secure');
    const lname = p.name.toLowerCase();
    if (lname.startsWith('__secure-') && !(p.secure && secureOrigin)) {
      return reject('__Secure- prefix requires Secure and a secure origin');
    }
    if (lname.startsWith('__host-') && !(p.secure && secureOrigin && hostOnly && path === '/')) {
      return reject('__Host- prefix requires Secure, no Domain and Path=/');
    }
    // 6265bis "leave secure cookies alone": an insecure origin may not shadow a Secure cookie.
    if (!p.secure && !secureOrigin) {
      const clash = this._cookies.find(
        (c) =>
          c.secure &&
          c.name === p.name &&
          (domainMatch(c.domain, domain) || domainMatch(domain, c.domain)) &&
          pathMatch(path, c.path) &&
          (c.expiry === null || c.expiry > now),
      );
      if (clash) return reject('would overwrite a Secure cookie from a non-secure origin');
    }

    const idx = this._cookies.findIndex((c) => c.name === p.name && c.domain === domain && c.path === path);
    let creation = now;
    let seq = this._seq++;
    if (idx !== -1) {
      creation = this._cookies[idx].creation;
      seq = this._cookies[idx].seq;
      this._cookies.splice(idx, 1);
    }
    if (expiry !== null && expiry <= now) return { ok: true, deleted: true };
    this._cookies.push({
      name: p.name,
      value: p.value,
      domain,
      hostOnly,
      path,
      expiry,
      secure: p.secure,
      httpOnly: p.httpOnly,
      sameSite: p.sameSite,
      creation,
      lastAccess: now,
      seq,
    });
    return { ok: true };
  }

  /**
   * Cookies that would be sent with a request to `url` (RFC 6265 §5.4), in
   * Cookie-header order (longer paths first, then older first).
   * @param {string|URL} url
   * @param {CookieContext} [ctx]
   * @returns {Cookie[]}
   */
  get(url, { sameSite = true, method = 'GET', topLevel = true } = {}) {
    const u = typeof url === 'string' ? new URL(url) : url;
    this._purgeExpired();
    const host = hostOf(u);
    const secure = isSecureScheme(u);
    const safe = ['GET', 'HEAD', 'OPTIONS', 'TRACE'].includes(method.toUpperCase());
    const now = this.now();
    const matched = this._cookies.filter((c) => {
      if (c.hostOnly ? host !== c.domain : !domainMatch(host, c.domain)) return false;
      if (!pathMatch(u.pathname || '/', c.path)) return false;
      if (c.secure && !secure) return false;
      if (!sameSite) {
        if (c.sameSite === 'Strict') return false;
        if ((c.sameSite === 'Lax' || c.sameSite === 'Default') && !(topLevel && safe)) return false;
      }
      return true;
    });
    matched.sort((a, b) => b.path.length - a.path.length || a.creation - b.creation || a.seq - b.seq);
    for (const c of matched) c.lastAccess = now;
    return matched.map(publicCookie);
  }

  /**
   * The Cookie header value for a request to `url` ('' if none).
   * @param {string|URL} url @param {CookieContext} [ctx]
   */
  cookieHeader(url, ctx) {
    return this.get(url, ctx)
      .map((c) => (c.name === '' ? c.value : `${c.name}=${c.value}`))
      .join('; ');
  }

  /**
   * Value of the cookie `name` that would be sent to `url`, or undefined.
   * @param {string} name @param {string|URL} url
   */
  getValue(name, url) {
    return this.get(url).find((c) => c.name === name)?.value;
  }

  /**
   * Plant or modify a cookie directly (tests: tampering, expired sessions...).
   * If a cookie with the same name/domain/path exists, unspecified attributes
   * are kept from it; otherwise defaults apply (path '/', session, not
   * secure, not HttpOnly, SameSite 'Lax'). `domain` with a leading dot (or
   * `hostOnly: false`) makes a domain cookie; otherwise it is host-only.
   * Alternatively pass `url` instead of `domain` (host-only for that host).
   *
   * @param {string} name
   * @param {string} value
   * @param {{domain?: string, url?: string|URL, path?: string, hostOnly?: boolean, secure?: boolean,
   *          httpOnly?: boolean, sameSite?: 'Strict'|'Lax'|'None'|'Default',
   *          expires?: Date|number|null, maxAge?: number}} [opts]
   * @returns {Cookie}
   */
  set(name, value, opts = {}) {
    let domain = opts.domain;
    let hostOnlyDefault = true;
    if (domain === undefined && opts.url !== undefined) {
      domain = hostOf(typeof opts.url === 'string' ? new URL(opts.url) : opts.url);
    }
    if (!domain) throw new Error('jar.set: `domain` (or `url`) is required');
    domain = domain.toLowerCase();
    if (domain.startsWith('.')) {
      domain = domain.slice(1);
      hostOnlyDefault = false;
    }
    const path = opts.path ?? '/';
    const now = this.now();
    const idx = this._cookies.findIndex((c) => c.name === name && c.domain === domain && c.path === path);
    const old = idx === -1 ? null : this._cookies[idx];
    let expiry = old ? old.expiry : null;
    if (opts.maxAge !== undefined) expiry = opts.maxAge <= 0 ? -Infinity : now + opts.maxAge * 1000;
    else if (opts.expires !== undefined) {
      expiry = opts.expires === null ? null : opts.expires instanceof Date ? opts.expires.getTime() : opts.expires;
    }
    const c = {
      name,
      value,
      domain,
      hostOnly: opts.hostOnly ?? (old && opts.domain === undefined ? old.hostOnly : hostOnlyDefault),
      path,
      expiry,
      secure: opts.secure ?? old?.secure ?? false,
      httpOnly: opts.httpOnly ?? old?.httpOnly ?? false,
      sameSite: opts.sameSite ?? old?.sameSite ?? 'Lax',
      creation: old?.creation ?? now,
      lastAccess: now,
      seq: old?.seq ?? this._seq++,
    };
    if (idx !== -1) this._cookies.splice(idx, 1);
    if (c.expiry === null || c.expiry > now) this._cookies.push(c);
    return publicCookie(c);
  }

  /**
   * Delete cookies named `name` (optionally only for a domain and/or path).
   * @param {string} name @param {{domain?: string, path?: string}} [opts]
   * @returns {number} how many were removed
   */
  delete(name, { domain, path } = {}) {
    const d = domain?.toLowerCase().replace(/^\./, '');
    const before = this._cookies.length;
    this._cookies = this._cookies.filter(
      (c) => !(c.name === name && (d === undefined || c.domain === d) && (path === undefined || c.path === path)),
    );
    return before - this._cookies.length;
  }

  /** Remove every cookie. */
  clear() {
    this._cookies = [];
  }

  /** Remove session cookies (as when the browser is restarted). */
  clearSession() {
    this._cookies = this._cookies.filter((c) => c.expiry !== null);
  }

  /**
   * All stored (unexpired) cookies, oldest first.
   * @returns {Cookie[]}
   */
  list() {
    this._purgeExpired();
    return [...this._cookies].sort((a, b) => a.creation - b.creation || a.seq - b.seq).map(publicCookie);
  }
}

function publicCookie(c) {
  return {
    name: c.name,
    value: c.value,
    domain: c.domain,
    hostOnly: c.hostOnly,
    path: c.path,
    expires: c.expiry === null ? null : new Date(Math.max(c.expiry, 0)),
    secure: c.secure,
    httpOnly: c.httpOnly,
    sameSite: c.sameSite,
    creation: new Date(c.creation),
  };
}

// ==================================================================== Browser

/**
 * @typedef {object} ChainEntry
 * @property {string} method
 * @property {string} url
 * @property {number} status
 * @property {string|undefined} location  raw Location header (if any)
 * @property {string[]} setCookie         Set-Cookie headers of this hop
 */

/**
 * @typedef {object} BrowserResponse
 * @property {number} status
 * @property {string} statusText
 * @property {Record<string, string|string[]>} headers  lower-case names; set-cookie is an array
 * @property {string[]} rawHeaders
 * @property {string} body            decoded (gzip/deflate/br) body as utf-8
 * @property {Buffer} bodyBuffer
 * @property {() => any} json         JSON.parse(body) with a helpful error
 * @property {string} url             final URL
 * @property {boolean} redirected
 * @property {ChainEntry[]} chain     every hop, the final response last
 */

/**
 * @typedef {object} RequestOptions
 * @property {Record<string, string|string[]>} [headers]  extra/override headers (a `cookie`
 *           header replaces the jar's Cookie header on every hop; Set-Cookie is still stored)
 * @property {string|Buffer} [body]
 * @property {Record<string,string>|URLSearchParams} [form]   urlencoded form body
 * @property {any} [json]                  JSON body
 * @property {boolean} [followRedirects]   default: the client's (Browser: true, apiClient: false)
 * @property {number} [maxRedirects=20]
 * @property {string} [from]               initiator page URL (link click / form post from that page);
 *                                         omitted = browser-initiated (typed URL)
 * @property {number} [timeoutMs=15000]    per hop
 */

/**
 * A browser-like HTTP client (see the module comment for the exact model).
 */
export class Browser {
  /**
   * @param {object} [opts]
   * @param {string} [opts.userAgent]                        default: CHROME_UA
   * @param {(host: string) => string|null|undefined} [opts.resolve]  host → IP (default 127.0.0.1;
   *        return null/undefined to use the system resolver)
   * @param {string|Buffer|Array<string|Buffer>} [opts.ca]  trust these CAs for https (otherwise
   *        certificates are not verified)
   * @param {boolean} [opts.rejectUnauthorized]              default: true iff `ca` is given
   * @param {boolean} [opts.navigation=true]                 send navigation headers (Accept text/html,
   *        Sec-Fetch-*, sec-ch-ua...); false = plain client (apiClient)
   * @param {boolean} [opts.followRedirects]                 default: navigation
   * @param {number} [opts.maxRedirects=20]
   * @param {number} [opts.timeoutMs=15000]
   * @param {Record<string,string>} [opts.headers]           default headers for every request
   * @param {CookieJar} [opts.jar]
   * @param {() => number} [opts.now]                        clock for a new jar
   * @param {boolean} [opts.keepAlive=false]                 reuse connections
   */
  constructor(opts = {}) {
    this.navigation = opts.navigation ?? true;
    this.userAgent = opts.userAgent ?? (this.navigation ? CHROME_UA : CURL_UA);
    this.resolve = opts.resolve ?? (() => '127.0.0.1');
    this.ca = opts.ca;
    this.rejectUnauthorized = opts.rejectUnauthorized ?? opts.ca !== undefined;
    this.followRedirects = opts.followRedirects ?? this.navigation;
    this.maxRedirects = opts.maxRedirects ?? 20;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.defaultHeaders = opts.headers ?? {};
    this.jar = opts.jar ?? new CookieJar({ now: opts.now });
    this.keepAlive = opts.keepAlive ?? false;
    this._httpAgent = this.keepAlive ? new http.Agent({ keepAlive: true }) : null;
    this._httpsAgent = this.keepAlive ? new https.Agent({ keepAlive: true }) : null;
    /** The last response (handy in failing tests). @type {BrowserResponse|null} */
    this.last = null;
  }

  /** Alias for `jar`. */
  get cookies() {
    return this.jar;
  }

  /**
   * Navigate to `url` with GET.
   * @param {string} url @param {Omit<RequestOptions, 'body'|'form'|'json'>} [opts]
   * @returns {Promise<BrowserResponse>}
   */
  get(url, opts = {}) {
    return this.request('GET', url, opts);
  }

  /**
   * POST (a form by default when `form` is given).
   * @param {string} url @param {RequestOptions} [opts]
   */
  post(url, opts = {}) {
    return this.request('POST', url, opts);
  }

  /**
   * Send a request, following redirects like a browser navigation:
   * 301/302 turn POST into GET, 303 turns anything but HEAD into GET,
   * 307/308 keep method and body. Set-Cookie headers of every hop are stored
   * and cookies are computed per hop. Throws after maxRedirects redirects.
   *
   * @param {string} method
   * @param {string|URL} url
   * @param {RequestOptions} [opts]
   * @returns {Promise<BrowserResponse>}
   */
  async request(method, url, opts = {}) {
    method = method.toUpperCase();
    let current = new URL(url);
    const follow = opts.followRedirects ?? this.followRedirects;
    const maxRedirects = opts.maxRedirects ?? this.maxRedirects;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const initiator = opts.from !== undefined ? new URL(opts.from) : null;
    // Who started the navigation: `from`, or the browser itself (typed URL, null) for
    // GET/HEAD; a POST without `from` is taken as a same-origin form submission.
    const effInitiator = initiator ?? (method === 'GET' || method === 'HEAD' ? null : new URL(current.href));

    /** @type {Record<string, string|string[]>} */
    let userHeaders = lowerKeys({ ...this.defaultHeaders, ...(opts.headers ?? {}) });
    /** @type {Buffer|null} */
    let body = null;
    if (opts.form !== undefined) {
      const form = opts.form instanceof URLSearchParams ? opts.form : new URLSearchParams(opts.form);
      body = Buffer.from(form.toString());
      userHeaders['content-type'] ??= 'application/x-www-form-urlencoded';
    } else if (opts.json !== undefined) {
      body = Buffer.from(JSON.stringify(opts.json));
      userHeaders['content-type'] ??= 'application/json';
    } else if (opts.body !== undefined && opts.body !== null) {
      body = Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(String(opts.body));
    }

    /** @type {ChainEntry[]} */
    const chain = [];
    /** @type {URL[]} */
    const urlList = [];
    let redirectTainted = false; // a cross-origin redirect happened (Origin becomes "null")
    for (;;) {
      urlList.push(current);
      const headers = this._buildHeaders(method, current, urlList, initiator, effInitiator, userHeaders, body, redirectTainted);
      const res = await this._send(method, current, headers, body, timeoutMs);
      const setCookies = /** @type {string[]} */ (res.headers['set-cookie'] ?? []);
      for (const sc of setCookies) this.jar.setCookie(sc, current);
      const location = /** @type {string|undefined} */ (res.headers.location);
      chain.push({ method, url: current.href, status: res.status, location, setCookie: setCookies });

      const isRedirect = [301, 302, 303, 307, 308].includes(res.status) && location !== undefined;
      let next = null;
      if (isRedirect && follow) {
        try {
          next = new URL(location, current);
        } catch {
          next = null; // unparseable Location: the browser shows the response
        }
        if (next && next.protocol !== 'http:' && next.protocol !== 'https:') next = null;
      }
      if (!next) {
        const resp = this._finish(res, current, chain);
        this.last = resp;
        return resp;
      }
      if (chain.length > maxRedirects) {
        const err = new Error(
          `too many redirects (> ${maxRedirects}) starting at ${chain[0].url}:\n` +
            chain.map((h) => `  ${h.status} ${h.method} ${h.url} -> ${h.location ?? ''}`).join('\n'),
        );
        /** @type {any} */ (err).chain = chain;
        throw err;
      }
      // Method/body rewriting as browsers do for navigations.
      if (
        ((res.status === 301 || res.status === 302) && method === 'POST') ||
        (res.status === 303 && method !== 'GET' && method !== 'HEAD')
      ) {
        method = 'GET';
        body = null;
        userHeaders = omitKeys(userHeaders, ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location']);
      }
      if (!next.hash && current.hash) next.hash = current.hash; // fragments are inherited
      if (!sameOrigin(next, current)) {
        userHeaders = omitKeys(userHeaders, ['authorization']);
        // Fetch: cross-origin redirect away from a URL that is itself cross-origin to the initiator.
        if (effInitiator === null || !sameOrigin(effInitiator, current)) redirectTainted = true;
      }
      current = next;
    }
  }

  /**
   * @param {string} method @param {URL} url @param {URL[]} urlList @param {URL|null} initiator
   * @param {URL|null} effInitiator @param {Record<string, string|string[]>} userHeaders
   * @param {Buffer|null} body @param {boolean} tainted
   */
  _buildHeaders(method, url, urlList, initiator, effInitiator, userHeaders, body, tainted) {
    /** @type {Record<string, string|string[]>} */
    const h = {};
    // "Same-site" for cookies: browser-initiated, or every URL so far is same-site with the initiator.
    const isSameSite = effInitiator === null || urlList.every((u) => sameSite(u, effInitiator));
    if (this.navigation) {
      h['sec-ch-ua'] = '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"';
      h['sec-ch-ua-mobile'] = '?0';
      h['sec-ch-ua-platform'] = '"Linux"';
      h['upgrade-insecure-requests'] = '1';
      h['user-agent'] = this.userAgent;
      h.accept = NAV_ACCEPT;
      if (effInitiator === null) {
        h['sec-fetch-site'] = 'none';
      } else {
        let rel = 'same-origin';
        for (const u of urlList) {
          if (sameOrigin(u, effInitiator)) continue;
          if (sameSite(u, effInitiator)) rel = 'same-site';
          else {
            rel = 'cross-site';
            break;
          }
        }
        h['sec-fetch-site'] = rel;
      }
      h['sec-fetch-mode'] = 'navigate';
      h['sec-fetch-user'] = '?1';
      h['sec-fetch-dest'] = 'document';
      const ref = initiator ? referrerFor(initiator, url) : null;
      if (ref) h.referer = ref;
      h['accept-encoding'] = 'gzip, deflate, br';
      h['accept-language'] = 'en-US,en;q=0.9';
      if (method !== 'GET' && method !== 'HEAD') {
        h.origin = tainted || !effInitiator ? 'null' : effInitiator.origin;
        h['cache-control'] = 'max-age=0';
      }
    } else {
      h['user-agent'] = this.userAgent;
      h.accept = '*/*';
    }
    if (userHeaders.cookie === undefined) {
      const cookie = this.jar.cookieHeader(url, { sameSite: isSameSite, method, topLevel: this.navigation });
      if (cookie) h.cookie = cookie;
    }
    Object.assign(h, userHeaders);
    if (body !== null) h['content-length'] = String(body.length);
    return h;
  }

  /**
   * One HTTP exchange (no redirect handling).
   * @param {string} method @param {URL} url @param {Record<string, string|string[]>} headers
   * @param {Buffer|null} body @param {number} timeoutMs
   * @returns {Promise<{status: number, statusText: string, headers: any, rawHeaders: string[], buffer: Buffer}>}
   */
  _send(method, url, headers, body, timeoutMs) {
    const isHttps = url.protocol === 'https:';
    if (!isHttps && url.protocol !== 'http:') {
      return Promise.reject(new Error(`unsupported URL scheme: ${url.href}`));
    }
    const mod = isHttps ? https : http;
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    /** @type {https.RequestOptions} */
    const ropts = {
      method,
      hostname,
      port: url.port || (isHttps ? 443 : 80),
      path: `${url.pathname || '/'}${url.search}`,
      headers,
      agent: (isHttps ? this._httpsAgent : this._httpAgent) ?? false,
      lookup: (host, options, cb) => {
        const ip = this.resolve(host);
        if (!ip) return dns.lookup(host, options, cb);
        const family = net.isIP(ip) || 4;
        if (options && options.all) cb(null, [{ address: ip, family }]);
        else cb(null, ip, family);
      },
    };
    if (isHttps) {
      ropts.rejectUnauthorized = this.rejectUnauthorized;
      if (this.ca !== undefined) ropts.ca = this.ca;
      if (!net.isIP(hostname)) ropts.servername = hostname;
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      };
      const req = mod.request(ropts, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', (e) => fail(new Error(`${method} ${url.href}: response error: ${e.message}`, { cause: e })));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          let buffer = Buffer.concat(chunks);
          try {
            buffer = decodeBody(buffer, res.headers['content-encoding']);
          } catch (e) {
            reject(new Error(`${method} ${url.href}: cannot decode ${res.headers['content-encoding']} body: ${e.message}`));
            return;
          }
          resolve({
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? '',
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            buffer,
          });
        });
      });
      const timer = setTimeout(() => {
        const err = new Error(`${method} ${url.href} timed out after ${timeoutMs} ms without a complete response`);
        fail(err);
        req.destroy(err);
      }, timeoutMs);
      req.on('error', (e) =>
        fail(new Error(`${method} ${url.href} failed: ${/** @type {any} */ (e).code ?? ''} ${e.message}`.replace(/ +/g, ' '), { cause: e })),
      );
      if (body !== null) req.end(body);
      else req.end();
    });
  }

  /** @returns {BrowserResponse} */
  _finish(res, url, chain) {
    const body = res.buffer.toString('utf8');
    return {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
      rawHeaders: res.rawHeaders,
      body,
      bodyBuffer: res.buffer,
      json() {
        try {
          return JSON.parse(body);
        } catch (e) {
          throw new Error(`response from ${url.href} (status ${res.status}) is not JSON: ${e.message}; body: ${body.slice(0, 300)}`);
        }
      },
      url: url.href,
      redirected: chain.length > 1,
      chain,
    };
  }

  /** Close pooled connections (only relevant with keepAlive). */
  close() {
    this._httpAgent?.destroy();
    this._httpsAgent?.destroy();
  }
}

/**
 * A non-browser client behaving like `curl`: User-Agent curl/8.5.0,
 * Accept: *\/*, no Sec-Fetch / client-hint headers, no Accept-Encoding, and —
 * like curl without -L — redirects are NOT followed unless
 * `followRedirects: true` is passed. It has its own (initially empty) cookie
 * jar, like `curl -b jar -c jar`.
 * @param {ConstructorParameters<typeof Browser>[0]} [opts]
 * @returns {Browser}
 */
export function apiClient(opts = {}) {
  return new Browser({ userAgent: CURL_UA, navigation: false, followRedirects: false, ...opts });
}

/**
 * GET 127.0.0.1:port with the path and Host sent exactly as given (URL
 * parsing would normalize the path first), no redirects followed.
 * @param {number} port @param {string} host @param {string} rawPath @param {Record<string,string>} [headers]
 * @returns {Promise<{status: number|undefined, headers: import('node:http').IncomingHttpHeaders, body: string}>}
 */
export function rawGet(port, host, rawPath, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: rawPath, agent: false, headers: { host, ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
  });
}

/**
 * One HTTP/1.1 request written byte for byte on a fresh TCP connection to
 * 127.0.0.1:port: the request target and every header exactly as given (no
 * URL parsing, no path normalisation, no header-name checks), then the reply
 * read until the server closes. For requests no well-behaved client sends.
 *
 * @param {number} port
 * @param {{method?: string, target: string, headers?: Array<[string, string]>, timeoutMs?: number}} req
 *        `headers` in order; add `host` yourself. `Connection: close` is appended.
 * @returns {Promise<{status: number, headers: Record<string, string|string[]>, body: string, raw: string}>}
 */
export function rawHttp(port, { method = 'GET', target, headers = [], timeoutMs = 10000 }) {
  const head = [`${method} ${target} HTTP/1.1`, ...headers.map(([n, v]) => `${n}: ${v}`), 'Connection: close', '', ''].join('\r\n');
  return new Promise((resolve, reject) => {
    // Written without half-closing: Envoy takes a half-close for the client going away.
    const socket = net.connect(port, '127.0.0.1', () => socket.write(Buffer.from(head, 'latin1')));
    const chunks = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => {
      const raw = Buffer.concat(chunks).toString('latin1');
      const split = raw.indexOf('\r\n\r\n');
      const lines = (split < 0 ? raw : raw.slice(0, split)).split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
      /** @type {Record<string, string|string[]>} */
      const out = {};
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        if (i <= 0) continue;
        const k = line.slice(0, i).trim().toLowerCase();
        const v = line.slice(i + 1).trim();
        out[k] = out[k] === undefined ? v : [].concat(out[k], v);
      }
      let body = split < 0 ? '' : raw.slice(split + 4);
      if (String(out['transfer-encoding'] ?? '').toLowerCase() === 'chunked') body = dechunk(body);
      resolve({ status, headers: out, body: Buffer.from(body, 'latin1').toString('utf8'), raw });
    });
    socket.on('error', reject);
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`${method} ${target}: no complete reply after ${timeoutMs} ms`)));
  });
}

function dechunk(text) {
  let out = '';
  let rest = text;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    if (eol < 0) return out;
    const size = parseInt(rest.slice(0, eol), 16);
    if (!size) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

// ==================================================================== helpers

/** strict-origin-when-cross-origin (Chrome's default referrer policy). */
function referrerFor(from, to) {
  if (isSecureScheme(from) && !isSecureScheme(to)) return null;
  if (sameOrigin(from, to)) {
    const r = new URL(from.href);
    r.hash = '';
    r.username = '';
    r.password = '';
    return r.href;
  }
  return `${from.origin}/`;
}

function decodeBody(buf, encoding) {
  if (!encoding || buf.length === 0) return buf;
  const enc = String(encoding).trim().toLowerCase();
  if (enc === 'gzip' || enc === 'x-gzip') return zlib.gunzipSync(buf);
  if (enc === 'br') return zlib.brotliDecompressSync(buf);
  if (enc === 'deflate') {
    try {
      return zlib.inflateSync(buf);
    } catch {
      return zlib.inflateRawSync(buf);
    }
  }
  return buf; // identity or unknown: leave as is
}

function lowerKeys(obj) {
  /** @type {Record<string, any>} */
  const out = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k.toLowerCase()] = v;
  return out;
}

function omitKeys(obj, keys) {
  const out = { ...obj };
  for (const k of keys) delete out[k];
  return out;
}
