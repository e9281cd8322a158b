//! The root context: compiles the plugin configuration once, owns the per-VM
//! provider state (discovery document and JWKS) and the stats' sums, and runs
//! the timer that keeps both current: due background fetches, and counts
//! handed to Envoy.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel};

use crate::config::Config;
use crate::metrics::{CallOutcome, Endpoint};
use crate::oidc::discovery::{self, Fetch, Runtime};

use super::http::FilterHttp;
use super::metrics::Metrics;
use super::{dispatch, now_millis, now_seconds, write_log};

const TICK: Duration = Duration::from_millis(250);

/// A background fetch on its way: which provider, which document, and when
/// it left (for its latency).
type InFlight = (usize, Fetch, u64);

#[derive(Default)]
pub(super) struct FilterRoot {
    config: Option<Rc<Config>>,
    runtime: Rc<RefCell<Runtime>>,
    metrics: Rc<RefCell<Metrics>>,
    fetches: HashMap<u32, InFlight>,
}

fn endpoint(fetch: Fetch) -> Endpoint {
    match fetch {
        Fetch::Discovery => Endpoint::Discovery,
        Fetch::Jwks => Endpoint::Jwks,
    }
}

impl FilterRoot {
    fn run_due_fetches(&mut self) {
        let (Some(config), Ok(mut runtime)) = (self.config.clone(), self.runtime.try_borrow_mut())
        else {
            return;
        };
        let now = now_seconds();
        for (index, fetch, call) in discovery::due_fetches(&config, &mut runtime, now) {
            match dispatch(&call) {
                Ok(token) => {
                    self.fetches.insert(token, (index, fetch, now_millis()));
                }
                Err(reply) => {
                    self.count_call(endpoint(fetch), CallOutcome::Unreachable, 0);
                    let lines =
                        discovery::on_fetch_reply(&config, &mut runtime, index, fetch, &reply, now);
                    write_log(&lines);
                }
            }
        }
    }

    fn count_call(&self, endpoint: Endpoint, outcome: CallOutcome, millis: u64) {
        if let Ok(mut metrics) = self.metrics.try_borrow_mut() {
            metrics.call(endpoint, outcome, millis);
        }
    }

    /// The readiness gauges from the provider states.
    fn report_readiness(&self) {
        let (Some(config), Ok(runtime), Ok(metrics)) = (
            self.config.as_ref(),
            self.runtime.try_borrow(),
            self.metrics.try_borrow(),
        ) else {
            return;
        };
        let now = now_seconds();
        for index in 0..config.providers.len() {
            metrics.set_ready(index, runtime.readiness(config, index, now).is_ok());
        }
    }
}

impl Context for FilterRoot {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let Some((index, fetch, sent_at)) = self.fetches.remove(&token_id) else {
            return;
        };
        let reply = super::http::call_reply(num_headers, body_size);
        let millis = now_millis().saturating_sub(sent_at);
        self.count_call(endpoint(fetch), CallOutcome::of(reply.status), millis);
        let (Some(config), Ok(mut runtime)) = (self.config.clone(), self.runtime.try_borrow_mut())
        else {
            return;
        };
        let lines =
            discovery::on_fetch_reply(&config, &mut runtime, index, fetch, &reply, now_seconds());
        write_log(&lines);
        drop(runtime);
        self.report_readiness();
        // A discovery success makes the JWKS fetch due at once.
        self.run_due_fetches();
    }
}

impl RootContext for FilterRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        // The VM environment: Envoy's vm_config.environment_variables, Istio's
        // vmConfig.env (WASI environ_get).
        let env: Vec<(String, String)> = std::env::vars_os()
            .map(|(name, value)| {
                (
                    name.to_string_lossy().into_owned(),
                    value.to_string_lossy().into_owned(),
                )
            })
            .collect();
        match Config::from_sources(&bytes, &env) {
            Ok(config) => {
                for note in &config.notes {
                    let _ = hostcalls::log(LogLevel::Info, note);
                }
                for warning in &config.warnings {
                    let _ = hostcalls::log(LogLevel::Warn, warning);
                }
                let _ = hostcalls::log(
                    LogLevel::Info,
                    &format!(
                        "tinyauth-wasm {} configured for {} ({} provider(s), {} app(s))",
                        env!("CARGO_PKG_VERSION"),
                        config.site.app_url.origin(),
                        config.providers.len(),
                        config.apps.list.len()
                    ),
                );
                self.runtime = Rc::new(RefCell::new(Runtime::with_shared(
                    &config,
                    crate::shared::Shared::new(super::HostShared),
                )));
                self.metrics = Rc::new(RefCell::new(Metrics::define(&config)));
                self.config = Some(Rc::new(config));
                self.fetches.clear();
                self.report_readiness();
                let _ = hostcalls::set_tick_period(TICK);
                true
            }
            Err(err) => {
                // Returning false makes Envoy reject the filter configuration.
                let _ =
                    hostcalls::log(LogLevel::Critical, &format!("invalid configuration: {err}"));
                false
            }
        }
    }

    fn on_tick(&mut self) {
        self.run_due_fetches();
        if let Ok(mut metrics) = self.metrics.try_borrow_mut() {
            metrics.flush();
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(FilterHttp::new(
            self.config.clone(),
            Rc::clone(&self.runtime),
            Rc::clone(&self.metrics),
        )))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
