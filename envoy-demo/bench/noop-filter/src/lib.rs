//! The cheapest useful proxy-wasm HTTP filter: it reads the request's cookie
//! header and lets the request through. The benchmark compares tinyauth-wasm
//! against this floor.

#![forbid(unsafe_code)]

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

struct Root;
impl Context for Root {}
impl RootContext for Root {
    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(ReadCookie))
    }
    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct ReadCookie;
impl Context for ReadCookie {}
impl HttpContext for ReadCookie {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let cookie = self.get_http_request_header_bytes("cookie");
        std::hint::black_box(cookie);
        Action::Continue
    }
}
