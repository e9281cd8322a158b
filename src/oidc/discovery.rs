//! What the filter learns about each provider at run time: its OpenID
//! discovery document and its JWKS, fetched from the root context at start,
//! retried with back-off, and refreshed periodically. Pure bookkeeping: the
//! shell dispatches the calls this module asks for and feeds back the replies.
//!
//! The state is per VM (one per Envoy worker); it is a cache of what the
//! provider publishes, so nothing depends on VMs agreeing.

use serde::Deserialize;

use crate::document;
use crate::session::Sessions;
use crate::shared::Shared;

use crate::config::{Config, Endpoint, Provider};
use crate::decision::{CallReply, Level, LogLine, OutboundCall};
use crate::http::url::HttpUrl;
use crate::oidc::jwks::Jwks;
use crate::oidc::messages::{printable, successful_body};

/// How often a key set is refreshed while all is well.
pub const JWKS_REFRESH_SECONDS: u64 = 3600;
/// The same unknown `kid` triggers at most one refetch per this many seconds.
pub const KID_REFETCH_SECONDS: u64 = 30;
/// Unknown kids remembered per provider (oldest forgotten first).
const REMEMBERED_KIDS: usize = 8;
/// Retry back-off bounds after a failed fetch.
const BACKOFF_MIN_SECONDS: u64 = 1;
const BACKOFF_MAX_SECONDS: u64 = 60;
/// A login that finds a provider not ready makes its next fetch due at once,
/// at most once per this many seconds (clock seconds) per provider and VM.
pub const RETRY_NOW_FLOOR_SECONDS: u64 = 1;

/// The endpoints a login uses, from configuration or discovery.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Empty when unknown (verification off and no issuer configured).
    pub issuer: String,
    pub authorize: HttpUrl,
    pub token: Endpoint,
    pub userinfo: Option<Endpoint>,
    pub jwks: Option<Endpoint>,
    pub end_session: Option<HttpUrl>,
    /// RFC 7009 token revocation, where a logout revokes the refresh token.
    pub revocation: Option<Endpoint>,
    /// RFC 9207: the provider promises `iss` on the authorization response.
    pub iss_parameter_supported: bool,
    /// `prompt_values_supported`; empty when the provider does not say.
    pub prompts: Vec<String>,
}

impl Endpoints {
    /// The `prompt` that makes the provider ask who is signing in instead of
    /// reusing its session: `login` (OpenID Connect Core, which Pocket ID
    /// honours by asking for a passkey again) unless the provider lists only
    /// `select_account`; none when it supports neither.
    pub fn switch_account_prompt(&self) -> Option<&'static str> {
        let listed = |value: &str| self.prompts.iter().any(|p| p == value);
        if self.prompts.is_empty() || listed("login") {
            Some("login")
        } else if listed("select_account") {
            Some("select_account")
        } else {
            None
        }
    }
}

/// One provider's run-time state in this VM.
#[derive(Debug, Clone, Default)]
pub struct ProviderState {
    pub endpoints: Option<Endpoints>,
    pub jwks: Option<Jwks>,
    pub jwks_fetched_at: u64,
    /// Unknown kids that triggered a refetch, and when.
    pub refetched_kids: Vec<(String, u64)>,
    pub last_error: Option<String>,
    next_attempt_at: u64,
    backoff: u64,
    in_flight: bool,
    /// When a login last made a fetch due at once ([`RuntimeUpdate::RetryNow`]).
    retried_now_at: Option<u64>,
}

/// Every provider's state, in configuration order.
#[derive(Debug, Clone, Default)]
pub struct Runtime {
    pub providers: Vec<ProviderState>,
    /// Verified cookies, logged-out sessions, and the state shared with the
    /// other VMs.
    pub sessions: Sessions,
}

/// Which document a background call fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    Discovery,
    Jwks,
}

/// A change to the run-time state decided while handling a request (the HTTP
/// context cannot hold the state mutably, so the shell applies it).
#[derive(Debug, Clone)]
pub enum RuntimeUpdate {
    /// A login fetched a fresher key set.
    Jwks {
        provider: usize,
        jwks: Jwks,
        at: u64,
    },
    /// A login asked for a refetch because of `kid` (rate-limit bookkeeping).
    KidRefetch {
        provider: usize,
        kid: String,
        at: u64,
    },
    /// A login found the provider not ready: fetch again now instead of
    /// waiting out the back-off (the provider typically came up after Envoy).
    RetryNow { provider: usize, at: u64 },
}

impl ProviderState {
    /// Whether an ID token naming the unknown `kid` may trigger a JWKS refetch
    /// now: a new kid (a key rotation) may; the same unknown kid only once per
    /// [`KID_REFETCH_SECONDS`], so a provider that signs with a key it does not
    /// publish cannot make every login refetch. (Kids come from the provider's
    /// own token response, never from the browser.)
    pub fn may_refetch_for(&self, kid: &str, now: u64) -> bool {
        !self
            .refetched_kids
            .iter()
            .any(|(known, at)| known == kid && now < at.saturating_add(KID_REFETCH_SECONDS))
    }

    /// Whether a login that finds this provider not ready at `now` may make
    /// its next fetch due at once: not while a fetch is in flight (one per
    /// provider and VM), not when one is due anyway, and at most once per
    /// [`RETRY_NOW_FLOOR_SECONDS`].
    pub fn may_retry_now(&self, now: u64) -> bool {
        !self.in_flight
            && now < self.next_attempt_at
            && self
                .retried_now_at
                .is_none_or(|at| now >= at.saturating_add(RETRY_NOW_FLOOR_SECONDS))
    }
}

impl Runtime {
    /// The initial state: providers whose every endpoint is configured (and
    /// that need no key set) are ready at once.
    pub fn new(config: &Config) -> Self {
        Self::with_shared(config, Shared::default())
    }

    /// The initial state, sharing `shared` with the other VMs.
    pub fn with_shared(config: &Config, shared: Shared) -> Self {
        crate::session::refreshing::prepare(&*shared);
        Self {
            providers: config
                .providers
                .iter()
                .map(|provider| ProviderState {
                    endpoints: provider
                        .discovery
                        .is_none()
                        .then(|| configured_endpoints(provider))
                        .flatten(),
                    ..ProviderState::default()
                })
                .collect(),
            sessions: Sessions {
                shared,
                ..Sessions::default()
            },
        }
    }

    pub fn apply(&mut self, update: RuntimeUpdate) {
        match update {
            RuntimeUpdate::Jwks { provider, jwks, at } => {
                if let Some(state) = self.providers.get_mut(provider) {
                    state.jwks = Some(jwks);
                    state.jwks_fetched_at = at;
                }
            }
            RuntimeUpdate::KidRefetch { provider, kid, at } => {
                if let Some(state) = self.providers.get_mut(provider) {
                    state.refetched_kids.retain(|(known, _)| *known != kid);
                    if state.refetched_kids.len() >= REMEMBERED_KIDS {
                        state.refetched_kids.remove(0);
                    }
                    state.refetched_kids.push((kid, at));
                }
            }
            RuntimeUpdate::RetryNow { provider, at } => {
                if let Some(state) = self.providers.get_mut(provider) {
                    if state.may_retry_now(at) {
                        state.next_attempt_at = at;
                        state.retried_now_at = Some(at);
                    }
                }
            }
        }
    }

    /// Whether a login through provider `index` can run now; else why not and
    /// how many seconds until the next attempt.
    pub fn readiness(
        &self,
        config: &Config,
        index: usize,
        now: u64,
    ) -> Result<&Endpoints, (String, u64)> {
        let state = self.providers.get(index);
        let retry = state.map_or(BACKOFF_MIN_SECONDS, |s| {
            s.next_attempt_at
                .saturating_sub(now)
                .clamp(1, BACKOFF_MAX_SECONDS)
        });
        let why = || {
            state.and_then(|s| s.last_error.clone()).unwrap_or_else(|| {
                "the provider's discovery document has not been fetched yet".into()
            })
        };
        let endpoints = state
            .and_then(|s| s.endpoints.as_ref())
            .ok_or_else(|| (why(), retry))?;
        let needs_keys = config
            .providers
            .get(index)
            .is_some_and(|p| p.verify_id_token);
        if needs_keys && state.and_then(|s| s.jwks.as_ref()).is_none() {
            return Err((why(), retry));
        }
        Ok(endpoints)
    }
}

/// Endpoints from configuration alone (when every one is given).
#[inline(never)]
fn configured_endpoints(provider: &Provider) -> Option<Endpoints> {
    // Without verification the issuer may stay unknown (empty): Tinyauth's
    // mode, where only a configured issuer is compared with `iss`.
    let issuer = match (&provider.issuer, provider.verify_id_token) {
        (Some(issuer), _) => issuer.clone(),
        (None, false) => String::new(),
        (None, true) => return None,
    };
    Some(Endpoints {
        issuer,
        authorize: provider.authorize_url.clone()?,
        token: provider.token.clone()?,
        userinfo: provider.userinfo.clone(),
        jwks: provider.jwks.clone(),
        end_session: provider.end_session_url.clone(),
        revocation: provider.revocation.clone(),
        iss_parameter_supported: false,
        prompts: Vec::new(),
    })
}

/// The background calls due now. Each returned call is marked in flight until
/// its reply (or failure) is handed to [`on_fetch_reply`].
pub fn due_fetches(
    config: &Config,
    runtime: &mut Runtime,
    now: u64,
) -> Vec<(usize, Fetch, OutboundCall)> {
    let mut due = Vec::new();
    for (index, (provider, state)) in config
        .providers
        .iter()
        .zip(runtime.providers.iter_mut())
        .enumerate()
    {
        if state.in_flight || now < state.next_attempt_at {
            continue;
        }
        let fetch = match (&state.endpoints, &provider.discovery) {
            (None, Some(discovery)) => Some((Fetch::Discovery, discovery.clone())),
            (Some(endpoints), _) if provider.verify_id_token => {
                let stale = state.jwks.is_none()
                    || now >= state.jwks_fetched_at.saturating_add(JWKS_REFRESH_SECONDS);
                endpoints
                    .jwks
                    .clone()
                    .filter(|_| stale)
                    .map(|jwks| (Fetch::Jwks, jwks))
            }
            _ => None,
        };
        if let Some((kind, endpoint)) = fetch {
            state.in_flight = true;
            due.push((index, kind, get_request(&endpoint, provider.timeout_ms)));
        }
    }
    due
}

/// A `GET` of a JSON document through Envoy.
pub fn get_request(endpoint: &Endpoint, timeout_ms: u64) -> OutboundCall {
    OutboundCall {
        cluster: endpoint.cluster.clone(),
        headers: vec![
            (":method".into(), "GET".into()),
            (":path".into(), endpoint.url.path_and_query().into()),
            (":authority".into(), endpoint.authority.clone()),
            ("accept".into(), "application/json".into()),
            ("user-agent".into(), "tinyauth-wasm".into()),
        ],
        body: None,
        timeout_ms,
    }
}

/// Takes the reply of a background call and updates the state.
pub fn on_fetch_reply(
    config: &Config,
    runtime: &mut Runtime,
    index: usize,
    fetch: Fetch,
    reply: &CallReply,
    now: u64,
) -> Vec<LogLine> {
    let (Some(provider), Some(state)) = (
        config.providers.get(index),
        runtime.providers.get_mut(index),
    ) else {
        return Vec::new();
    };
    state.in_flight = false;
    let result = match fetch {
        Fetch::Discovery => successful_body(reply)
            .map_err(|failure| failure.to_string())
            .and_then(|body| discovered_endpoints(config, provider, body))
            .map(|endpoints| {
                let line = format!(
                    "provider {}: discovered issuer {} (token {}, jwks {})",
                    provider.id,
                    endpoints.issuer,
                    shown(&endpoints.token.url),
                    endpoints
                        .jwks
                        .as_ref()
                        .map_or_else(|| "none".into(), |j| shown(&j.url))
                );
                state.endpoints = Some(endpoints);
                line
            }),
        Fetch::Jwks => successful_body(reply)
            .map_err(|failure| failure.to_string())
            .and_then(|body| Jwks::parse(body).map_err(|err| err.to_string()))
            .and_then(|jwks| {
                if jwks.keys.is_empty() {
                    return Err(format!(
                        "the JWKS has no usable signing key (skipped: {})",
                        skipped(&jwks.skipped)
                    ));
                }
                let mut line = format!(
                    "provider {}: {} signing key(s) loaded",
                    provider.id,
                    jwks.keys.len()
                );
                if !jwks.skipped.is_empty() {
                    line = format!("{line}; skipped {}", skipped(&jwks.skipped));
                }
                state.jwks = Some(jwks);
                state.jwks_fetched_at = now;
                Ok(line)
            }),
    };
    match result {
        Ok(line) => {
            state.last_error = None;
            state.backoff = 0;
            state.next_attempt_at = now;
            vec![LogLine {
                level: Level::Info,
                message: line,
            }]
        }
        Err(why) => {
            state.backoff = (state.backoff * 2).clamp(BACKOFF_MIN_SECONDS, BACKOFF_MAX_SECONDS);
            state.next_attempt_at = now + state.backoff;
            let what = match fetch {
                Fetch::Discovery => "discovery",
                Fetch::Jwks => "JWKS fetch",
            };
            let message = format!(
                "provider {}: {what} failed: {why}; logins through it are refused until it succeeds (retry in {}s)",
                provider.id, state.backoff
            );
            let error = format!("{what} failed: {why}");
            // A missing cluster is an operator's mistake nothing will fix by
            // itself; the same failure again (an outage) is not worth a line
            // per retry.
            let level = if state.last_error.as_ref() == Some(&error) {
                Level::Debug
            } else if reply.missing_cluster.is_some() {
                Level::Critical
            } else {
                Level::Error
            };
            state.last_error = Some(error);
            vec![LogLine { level, message }]
        }
    }
}

/// Most key-set entries named in one log line.
const SKIPPED_SHOWN: usize = 5;

/// A URL from the provider's discovery document as it goes into a log line:
/// printable ASCII (as the URL parser writes it anyway), at most 200 characters.
fn shown(url: &impl std::fmt::Display) -> String {
    printable(&url.to_string(), 200)
}

/// The key-set entries that were skipped, for a log line: each is already
/// short (`jwks`), and a key set of thousands of junk entries names only the
/// first few, so it cannot flood the log (the reason is repeated on every
/// refused login).
fn skipped(entries: &[String]) -> String {
    let shown = entries
        .iter()
        .take(SKIPPED_SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("; ");
    match entries.len().saturating_sub(SKIPPED_SHOWN) {
        0 => shown,
        more => format!("{shown}; and {more} more"),
    }
}

/// The members of a discovery document the filter reads; each must have the
/// right type when present.
#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    jwks_uri: Option<String>,
    end_session_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    /// RFC 9207; absent or `null` means false.
    authorization_response_iss_parameter_supported: Option<bool>,
    /// Read leniently: only a list of strings means anything, and a provider
    /// that writes it another way still logs users in.
    prompt_values_supported: Option<serde_json::Value>,
}

/// Reads a discovery document (OpenID Connect Discovery 1.0 §3) and merges it
/// with configuration, which wins. The document's `issuer` must be exactly the
/// issuer it was fetched for (§4.3).
#[inline(never)]
fn discovered_endpoints(
    config: &Config,
    provider: &Provider,
    body: &[u8],
) -> Result<Endpoints, String> {
    let meta = document::parse::<Metadata>(body)
        .map_err(|_| "the discovery document is not JSON with an issuer".to_owned())?;
    let issuer = meta.issuer.trim_end_matches('/').to_owned();
    let expected = provider.expected_issuer();
    if issuer != expected.trim_end_matches('/') {
        return Err(format!(
            "the discovery document's issuer `{}` is not `{expected}`",
            printable(&issuer, 200)
        ));
    }
    let url = |configured: &Option<HttpUrl>,
               found: Option<&String>,
               name: &str|
     -> Result<Option<HttpUrl>, String> {
        match (configured, found) {
            (Some(url), _) => Ok(Some(url.clone())),
            (None, Some(found)) => HttpUrl::parse(found)
                .map(Some)
                .map_err(|err| format!("discovery {name} `{}` {err}", printable(found, 200))),
            (None, None) => Ok(None),
        }
    };
    let endpoint = |configured: &Option<Endpoint>,
                    found: Option<&String>,
                    name: &str|
     -> Result<Option<Endpoint>, String> {
        match configured {
            Some(endpoint) => Ok(Some(endpoint.clone())),
            None => Ok(url(&None, found, name)?.map(|u| config.endpoint_for(u, provider))),
        }
    };
    let authorize = url(
        &provider.authorize_url,
        meta.authorization_endpoint.as_ref(),
        "authorization_endpoint",
    )?
    .ok_or("the discovery document has no authorization_endpoint")?;
    let token = endpoint(
        &provider.token,
        meta.token_endpoint.as_ref(),
        "token_endpoint",
    )?
    .ok_or("the discovery document has no token_endpoint")?;
    let userinfo = endpoint(
        &provider.userinfo,
        meta.userinfo_endpoint.as_ref(),
        "userinfo_endpoint",
    )?;
    let jwks = endpoint(&provider.jwks, meta.jwks_uri.as_ref(), "jwks_uri")?;
    if provider.verify_id_token && jwks.is_none() {
        return Err(
            "the discovery document has no jwks_uri, so ID tokens cannot be verified".into(),
        );
    }
    if provider.needs_userinfo() && userinfo.is_none() {
        return Err(
            "the discovery document has no userinfo_endpoint and userInfoUrl is not set".into(),
        );
    }
    Ok(Endpoints {
        issuer,
        authorize,
        token,
        userinfo,
        jwks,
        end_session: url(
            &provider.end_session_url,
            meta.end_session_endpoint.as_ref(),
            "end_session_endpoint",
        )?,
        revocation: endpoint(
            &provider.revocation,
            meta.revocation_endpoint.as_ref(),
            "revocation_endpoint",
        )?,
        iss_parameter_supported: meta
            .authorization_response_iss_parameter_supported
            .unwrap_or(false),
        prompts: meta
            .prompt_values_supported
            .as_ref()
            .and_then(serde_json::Value::as_array)
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    })
}
