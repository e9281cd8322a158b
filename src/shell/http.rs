//! The HTTP context: one per request. Reads the request, calls the core, and
//! applies the decision; when the core asks for a provider call it dispatches
//! it, keeps the paused login, and feeds the reply back to the core.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action as HostAction, BufferType, MapType};

use crate::config::Config;
use crate::decision::{CallReply, Forward, Level, Response};
use crate::flow;
use crate::http::ip::parse_socket_address;
use crate::http::request::RequestView;
use crate::oidc::discovery::Runtime;
use crate::oidc::{Action, Decision, Pending};

use super::{dispatch, log, now_seconds, write_log, HostEntropy};

pub(super) struct FilterHttp {
    config: Option<Rc<Config>>,
    runtime: Rc<RefCell<Runtime>>,
    /// The login waiting for a provider reply, with the call's token.
    pending: Option<(u32, Pending)>,
    /// Headers to add to the upstream response (a renewed session cookie).
    response_headers: Vec<(String, String)>,
}

impl FilterHttp {
    pub(super) fn new(config: Option<Rc<Config>>, runtime: Rc<RefCell<Runtime>>) -> Self {
        Self {
            config,
            runtime,
            pending: None,
            response_headers: Vec::new(),
        }
    }

    /// Runs `f` with the provider state. The state is only borrowed for the
    /// length of one core call, so the borrow cannot fail; if it somehow did,
    /// an empty state makes logins answer 503 instead of panicking.
    fn with_runtime<T>(&self, f: impl FnOnce(&Runtime) -> T) -> T {
        match self.runtime.try_borrow() {
            Ok(runtime) => f(&runtime),
            Err(_) => f(&Runtime::default()),
        }
    }

    /// Applies a decision; returns what the request should do next.
    fn apply(&mut self, config: &Config, decision: Decision) -> HostAction {
        write_log(&decision.log);
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
            Action::Call { call, pending } => {
                if let Some(token) = dispatch(&call) {
                    self.pending = Some((token, pending));
                    HostAction::Pause
                } else {
                    let no_reply = CallReply::default();
                    let decision = self.with_runtime(|runtime| {
                        flow::on_call_reply(config, runtime, pending, &no_reply, now_seconds())
                    });
                    self.apply(config, decision)
                }
            }
        }
    }
}

impl Context for FilterHttp {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let (Some(config), Some((expected, pending))) = (self.config.clone(), self.pending.take())
        else {
            return;
        };
        if expected != token_id {
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
        let decision = self.with_runtime(|runtime| {
            flow::on_call_reply(&config, runtime, pending, &reply, now_seconds())
        });
        if self.apply(&config, decision) == HostAction::Continue {
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
            view.peer = hostcalls::get_property(vec!["source", "address"])
                .ok()
                .flatten()
                .and_then(|address| parse_socket_address(std::str::from_utf8(&address).ok()?));
        }
        let decision = self.with_runtime(|runtime| {
            flow::on_request(&config, runtime, &view, now_seconds(), &mut HostEntropy)
        });
        self.apply(&config, decision)
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

/// The reply to a provider call: status (if any) and body.
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

/// The request headers. The SDK's string variant panics on a non-UTF-8 value,
/// which any client can send; read bytes and replace invalid sequences instead.
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
