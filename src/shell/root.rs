//! The root context: compiles the plugin configuration once and hands it to
//! every HTTP context.

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel};

use crate::config::Config;

use super::http::FilterHttp;

#[derive(Default)]
pub(super) struct FilterRoot {
    config: Option<Rc<Config>>,
}

impl Context for FilterRoot {}

impl RootContext for FilterRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        match Config::from_json(&bytes) {
            Ok(config) => {
                let _ = hostcalls::log(
                    LogLevel::Info,
                    &format!(
                        "tinyauth-wasm {} configured for {} ({} provider(s), {} app(s))",
                        env!("CARGO_PKG_VERSION"),
                        config.app_url.origin(),
                        config.providers.len(),
                        config.apps.list.len()
                    ),
                );
                self.config = Some(Rc::new(config));
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

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(FilterHttp::new(self.config.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
