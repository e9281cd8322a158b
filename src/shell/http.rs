//! The HTTP context: one per request. Reads the request, calls the core, and
//! applies the decision (its header edits or response, its log and audit
//! lines, its counts); when the core asks for a provider call it dispatches
//! it, keeps the paused login, and feeds the reply back to the core.

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action as HostAction, BufferType, LogLevel, MapType};

use crate::config::Config;
use crate::decision::{Audit, CallReply, Forward, Level, Response};
use crate::flow;
use crate::http::ip::{client_ip, parse_socket_address};
use crate::http::request::RequestView;
use crate::metrics::CallOutcome;
use crate::oidc::discovery::Runtime;
use crate::oidc::{Action, Decision, Pending};

use super::metrics::Metrics;
use super::{dispatch, log, now_millis, now_seconds, write_log, HostEntropy};

/// What an audit line needs from the request, kept while a login waits for
/// the provider.
#[derive(Debug, Default, Clone)]
struct Origin {
    request_id: Option<String>,
    forwarded_for: Option<String>,
    peer: Option<IpAddr>,
}

/// A login paused for a provider call: the call's token, what it is for, when
/// it left, and where the request came from.
struct Waiting {
    token: u32,
    pending: Pending,
    sent_at: u64,
    origin: Origin,
}

pub(super) struct FilterHttp {
    config: Option<Rc<Config>>,
    runtime: Rc<RefCell<Runtime>>,
    metrics: Rc<RefCell<Metrics>>,
    waiting: Option<Waiting>,
    response_headers: Vec<(String, String)>,
}

/// Envoy's downstream peer (a property read: only when it is needed).
fn peer_address() -> Option<IpAddr> {
    hostcalls::get_property(vec!["source", "address"])
        .ok()
        .flatten()
        .and_then(|address| parse_socket_address(std::str::from_utf8(&address).ok()?))
}

impl FilterHttp {
    pub(super) fn new(
        config: Option<Rc<Config>>,
        runtime: Rc<RefCell<Runtime>>,
        metrics: Rc<RefCell<Metrics>>,
    ) -> Self {
        Self {
            config,
            runtime,
            metrics,
            waiting: None,
            response_headers: Vec::new(),
        }
    }

    fn with_runtime<T>(&self, f: impl FnOnce(&Runtime) -> T) -> T {
        match self.runtime.try_borrow() {
            Ok(runtime) => f(&runtime),
            Err(_) => f(&Runtime::default()),
        }
    }

    fn apply(&mut self, config: &Config, decision: Decision, origin: &Origin) -> HostAction {
        write_log(&decision.log);
        if let Some(audit) = &decision.audit {
            write_audit(config, audit, origin);
        }
        if let Ok(mut metrics) = self.metrics.try_borrow_mut() {
            for count in &decision.counts {
                metrics.count(*count);
            }
        }
        if !decision.updates.is_empty() {
            if let Ok(mut runtime) = self.runtime.try_borrow_mut() {
                for update in decision.updates {
                    runtime.apply(update);
                }
            }
        }
        match decision.action {
            Action::Forward(forward) => {
                apply_forward(&forward);
                self.response_headers = forward.response_headers;
                HostAction::Continue
            }
            Action::Respond(response) => {
                send(&response);
                HostAction::Pause
            }
            Action::Call { call, pending } => match dispatch(&call) {
                Ok(token) => {
                    self.waiting = Some(Waiting {
                        token,
                        pending,
                        sent_at: now_millis(),
                        origin: origin.clone(),
                    });
                    HostAction::Pause
                }
                Err(reply) => self.resume(config, pending, &reply, 0, origin),
            },
        }
    }

    /// Hands the provider's reply (or its absence) to the core.
    fn resume(
        &mut self,
        config: &Config,
        pending: Pending,
        reply: &CallReply,
        millis: u64,
        origin: &Origin,
    ) -> HostAction {
        let outcome = if reply.missing_cluster.is_some() {
            CallOutcome::Unreachable
        } else {
            CallOutcome::of(reply.status)
        };
        if let Ok(mut metrics) = self.metrics.try_borrow_mut() {
            metrics.call(pending.endpoint(), outcome, millis);
        }
        let decision = self.with_runtime(|runtime| {
            flow::on_call_reply(
                config,
                runtime,
                pending,
                reply,
                now_seconds(),
                origin.request_id.as_deref(),
                &mut HostEntropy,
            )
        });
        self.apply(config, decision, origin)
    }
}

/// The audit line, with the client's address as the IP rules see it (Envoy's
/// peer, or `X-Forwarded-For` through `trustedProxies`) and `x-request-id`.
fn write_audit(config: &Config, audit: &Audit, origin: &Origin) {
    let peer = origin.peer.or_else(peer_address);
    let client = client_ip(
        peer,
        origin.forwarded_for.as_deref(),
        &config.trusted_proxies,
    );
    let line = audit.line(client, origin.request_id.as_deref());
    let _ = hostcalls::log(LogLevel::Info, &line);
}

impl Context for FilterHttp {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let (Some(config), Some(waiting)) = (self.config.clone(), self.waiting.take()) else {
            return;
        };
        if waiting.token != token_id {
            log(
                Level::Error,
                "reply for an unknown provider call; failing the request",
            );
            send(&crate::http::respond::json_status(
                500,
                "Internal Server Error",
            ));
            return;
        }
        let reply = call_reply(num_headers, body_size);
        let millis = now_millis().saturating_sub(waiting.sent_at);
        let action = self.resume(&config, waiting.pending, &reply, millis, &waiting.origin);
        if action == HostAction::Continue {
            let _ = hostcalls::resume_http_request();
        }
    }
}

// The shipped module exports only the callbacks implemented here and in
// root.rs (tools/optimize-wasm.mjs, KEEP); a new one must be added there too
// (tests/e2e/packaging.test.mjs checks).
impl HttpContext for FilterHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> HostAction {
        let Some(config) = self.config.clone() else {
            // Not configured (cannot normally happen: Envoy rejects a failed
            // configure). Fail closed.
            send(&crate::http::respond::json_status(
                503,
                "Service Unavailable",
            ));
            return HostAction::Pause;
        };
        let headers = request_headers();
        let mut view = RequestView::from_headers(&headers);
        if config.uses_client_ip {
            view.peer = peer_address();
        }
        let decision = self.with_runtime(|runtime| {
            flow::on_request(&config, runtime, &view, now_seconds(), &mut HostEntropy)
        });
        // Only a decision that is audited or waits for the provider needs the
        // request's origin kept (the authenticated path copies nothing).
        let origin = if decision.audit.is_some() || matches!(decision.action, Action::Call { .. }) {
            Origin {
                request_id: view.request_id.map(str::to_owned),
                forwarded_for: view.forwarded_for.map(str::to_owned),
                peer: view.peer,
            }
        } else {
            Origin::default()
        };
        self.apply(&config, decision, &origin)
    }

    fn on_http_response_headers(
        &mut self,
        _num_headers: usize,
        _end_of_stream: bool,
    ) -> HostAction {
        for (name, value) in std::mem::take(&mut self.response_headers) {
            let _ = hostcalls::add_map_value(MapType::HttpResponseHeaders, &name, &value);
        }
        HostAction::Continue
    }
}

pub(super) fn call_reply(num_headers: usize, body_size: usize) -> CallReply {
    let status = if num_headers == 0 {
        None
    } else {
        hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|value| std::str::from_utf8(&value).ok()?.parse::<u16>().ok())
    };
    let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
        .ok()
        .flatten()
        .unwrap_or_default();
    CallReply {
        status,
        body,
        missing_cluster: None,
    }
}

fn request_headers() -> Vec<(String, String)> {
    hostcalls::get_map_bytes(MapType::HttpRequestHeaders)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| {
            let value = String::from_utf8(value)
                .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned());
            (name, value)
        })
        .collect()
}

fn apply_forward(forward: &Forward) {
    for name in &forward.remove {
        let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, name);
    }
    for (name, value) in &forward.set {
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value));
    }
    match forward.cookie.as_deref() {
        None => {}
        Some("") => {
            let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, "cookie");
        }
        Some(cookie) => {
            let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, "cookie", Some(cookie));
        }
    }
}

fn send(response: &Response) {
    let headers: Vec<(&str, &str)> = response
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let body = (!response.body.is_empty()).then_some(response.body.as_slice());
    let _ = hostcalls::send_http_response(u32::from(response.status), headers, body);
}
