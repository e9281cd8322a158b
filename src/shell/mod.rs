//! The proxy-wasm shell: the only code that talks to Envoy. It gathers the
//! request, calls the core, and applies the returned decision verbatim. Built
//! for `wasm32` only, so the core cannot reach the host by accident.

mod http;
mod root;

use proxy_wasm::hostcalls;
use proxy_wasm::types::LogLevel;

use crate::decision::{Level, LogLine};

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
    };
    let _ = hostcalls::log(level, message);
}

/// Seconds since the Unix epoch, from the host clock.
fn now_seconds() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// WASI `random_get`, which Envoy serves from `BoringSSL`'s random generator.
struct HostEntropy;

impl crate::crypto::Entropy for HostEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), crate::crypto::EntropyUnavailable> {
        getrandom::fill(buf).map_err(|_| crate::crypto::EntropyUnavailable)
    }
}
