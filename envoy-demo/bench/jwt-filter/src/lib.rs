//! A comparison for the benchmark: a proxy-wasm filter whose session is an
//! HS256 JWT in the `bench-jwt` cookie, verified on every request with the
//! jwt-simple crate (signature, expiry), as JWT-based Wasm auth filters do.
//! A request without a valid token gets a local 401. Its configuration is
//! `<mode> <hex key>`:
//! - `verify`: only verifies the token (the reference row);
//! - `headers`: also does what tinyauth-wasm does with the session — applies
//!   the app's group rule (`admins`; others get a local 403), sets the
//!   identity headers from the token's claims and an app header, and drops the
//!   cookie header — so it can be compared with tinyauth-wasm like for like.

#![forbid(unsafe_code)]

use jwt_simple::prelude::{HS256Key, MACLike};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use serde::{Deserialize, Serialize};
use std::rc::Rc;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// The claims the token carries besides `sub` and `exp`.
#[derive(Serialize, Deserialize)]
struct Identity {
    preferred_username: String,
    email: String,
    name: String,
    groups: Vec<String>,
}

struct Settings {
    key: HS256Key,
    set_headers: bool,
}

#[derive(Default)]
struct Root {
    settings: Option<Rc<Settings>>,
}

impl Context for Root {}
impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        let configuration = self.get_plugin_configuration().unwrap_or_default();
        let configuration = String::from_utf8_lossy(&configuration);
        let Some((mode, key)) = configuration.split_once(' ') else {
            log::error!("jwt-filter: configuration must be `<verify|headers> <hex key>`");
            return false;
        };
        let Some(key) = hex(key.trim()) else {
            log::error!("jwt-filter: the key is not hex");
            return false;
        };
        let set_headers = match mode {
            "verify" => false,
            "headers" => true,
            _ => {
                log::error!("jwt-filter: unknown mode `{mode}`");
                return false;
            }
        };
        self.settings = Some(Rc::new(Settings { key: HS256Key::from_bytes(&key), set_headers }));
        true
    }
    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Request { settings: self.settings.clone()? }))
    }
    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Request {
    settings: Rc<Settings>,
}

impl Context for Request {}
impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let headers = self.get_http_request_headers_bytes();
        let token = headers
            .iter()
            .filter(|(name, _)| name == "cookie")
            .filter_map(|(_, value)| std::str::from_utf8(value).ok())
            .flat_map(|cookies| cookies.split(';'))
            .find_map(|pair| pair.trim().strip_prefix("bench-jwt="));
        let claims = token.and_then(|token| {
            self.settings.key.verify_token::<Identity>(token, None).ok()
        });
        let Some(claims) = claims else {
            self.send_http_response(401, vec![], Some(b"unauthorized"));
            return Action::Pause;
        };
        if self.settings.set_headers {
            let identity = &claims.custom;
            if !identity.groups.iter().any(|group| group == "admins") {
                self.send_http_response(403, vec![], Some(b"forbidden"));
                return Action::Pause;
            }
            let groups = identity.groups.join(",");
            for (name, value) in [
                ("remote-user", identity.preferred_username.as_str()),
                ("remote-email", identity.email.as_str()),
                ("remote-name", identity.name.as_str()),
                ("remote-groups", groups.as_str()),
                ("remote-sub", claims.subject.as_deref().unwrap_or_default()),
                ("x-bench", "1"),
            ] {
                self.set_http_request_header(name, Some(value));
            }
            self.set_http_request_header("cookie", None);
        }
        Action::Continue
    }
}

fn hex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
