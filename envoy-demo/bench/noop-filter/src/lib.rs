//! Floors for the benchmark, with no authentication at all. With an empty
//! configuration the filter only reads the request's cookie header: the
//! cheapest useful proxy-wasm filter. With the configuration `identity-headers`
//! it also does the header work an authenticating filter must do — read every
//! request header, set five identity headers and an app header, rewrite the
//! cookie header — so the benchmark can tell what the proxy-wasm ABI costs for
//! that work from what tinyauth-wasm's own checks cost.

#![forbid(unsafe_code)]

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

#[derive(Default)]
struct Root {
    identity_headers: bool,
}

impl Context for Root {}
impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        let configuration = self.get_plugin_configuration().unwrap_or_default();
        self.identity_headers = configuration == b"identity-headers";
        true
    }
    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        if self.identity_headers {
            Some(Box::new(SetIdentityHeaders))
        } else {
            Some(Box::new(ReadCookie))
        }
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

struct SetIdentityHeaders;
impl Context for SetIdentityHeaders {}
impl HttpContext for SetIdentityHeaders {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let headers = self.get_http_request_headers_bytes();
        std::hint::black_box(&headers);
        for (name, value) in [
            ("remote-user", "alice"),
            ("remote-email", "alice@example.test"),
            ("remote-name", "Alice Anderson"),
            ("remote-groups", "admins,users"),
            ("remote-sub", "a11ce000-0000-4000-8000-000000000001"),
            ("x-bench", "1"),
        ] {
            self.set_http_request_header(name, Some(value));
        }
        self.set_http_request_header("cookie", None);
        Action::Continue
    }
}
