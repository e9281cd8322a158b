//! The proxy-wasm shell: the only code that talks to Envoy. It gathers the
//! request, calls the core, and applies the returned decision verbatim. Built
//! for `wasm32` only, so the core cannot reach the host by accident.

mod http;
mod metrics;
mod root;

use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::types::LogLevel;

use crate::decision::{CallReply, Level, LogLine, OutboundCall};

proxy_wasm::main! {{
    // A panic aborts the VM; make sure its reason reaches the proxy's log.
    std::panic::set_hook(Box::new(|info| {
        let _ = hostcalls::log(LogLevel::Critical, &format!("panic: {info}"));
    }));
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root::FilterRoot::default())
    });
}}

/// Writes the core's log lines to the proxy log.
fn write_log(lines: &[LogLine]) {
    for line in lines {
        log(line.level, &line.message);
    }
}

fn log(level: Level, message: &str) {
    let level = match level {
        Level::Debug => LogLevel::Debug,
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
        Level::Error => LogLevel::Error,
        Level::Critical => LogLevel::Critical,
    };
    let _ = hostcalls::log(level, message);
}

/// Starts an outbound call; `None` (after logging why) when Envoy refuses it,
/// which almost always means the cluster is not defined.
/// Sends `call` through Envoy; `Err` with the reply to use instead when Envoy
/// refuses (it has no such cluster).
fn dispatch(call: &OutboundCall) -> Result<u32, CallReply> {
    let headers: Vec<(&str, &str)> = call
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    hostcalls::dispatch_http_call(
        &call.cluster,
        headers,
        call.body.as_deref(),
        Vec::new(),
        Duration::from_millis(call.timeout_ms),
    )
    .map_err(|_| CallReply::missing_cluster(&call.cluster))
}

fn now_seconds() -> u64 {
    now_millis() / 1000
}

fn now_millis() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Envoy's shared data: one store for every VM of this plugin's `vm_id` in
/// the Envoy process (all its workers).
struct HostShared;

impl crate::shared::SharedStore for HostShared {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        match hostcalls::get_shared_data(key) {
            Ok((value, Some(version))) => Some((value.unwrap_or_default(), version)),
            _ => None,
        }
    }

    fn set(&self, key: &str, value: &[u8], version: Option<u32>) -> bool {
        hostcalls::set_shared_data(key, Some(value), version).is_ok()
    }
}

/// WASI `random_get`, which Envoy serves from `BoringSSL`'s random generator.
struct HostEntropy;

impl crate::session::crypto::Entropy for HostEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), crate::session::crypto::EntropyUnavailable> {
        getrandom::fill(buf).map_err(|_| crate::session::crypto::EntropyUnavailable)
    }
}
