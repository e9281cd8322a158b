//! tinyauth-wasm: Tinyauth's OIDC login and per-app access control as a
//! proxy-wasm HTTP filter for Envoy (plain Envoy, func-e or an Istio
//! `WasmPlugin`).
//!
//! # Design
//!
//! **Pure core, thin shell.** Every decision is made by [`flow::on_request`] and
//! [`flow::on_call_reply`]: pure functions of the compiled [`config::Config`],
//! a [`request::RequestView`], the time and an injected [`crypto::Entropy`]
//! that return a [`decision::Decision`] — forward with header edits, answer
//! locally, or call the provider and resume with its reply. Only `shell/`
//! talks to the proxy; it is compiled for `wasm32` alone and `proxy-wasm` is a
//! wasm-only dependency, so the compiler keeps the core free of host calls and
//! the core is tested natively with `cargo test`.
//!
//! **Stateless and fail-closed.** Sessions and in-progress logins live in
//! cookies signed with keys derived from the configured secret, so any worker
//! VM of any Envoy can serve any request. Invalid configuration stops the
//! filter from loading; provider failures become error pages; nothing is
//! forwarded without a valid session unless a rule explicitly allows it.
//!
//! **Cheap steady state.** An authenticated request costs one MAC check and a
//! small JSON array read (both skipped for a cookie this VM verified before),
//! one shared-data read (logged-out sessions): no outbound call and no
//! public-key cryptography.
//!
//! **Small functions where speed does not matter.** Cold code (configuration,
//! discovery, the login callback) is kept in functions of a few KB with
//! `#[inline(never)]`: Envoy has V8 compile every function with its optimising
//! compiler when the module loads, and the compiler's peak memory stays in
//! Envoy's RSS (see the `config` module for the measurement).

#![forbid(unsafe_code)]

pub mod access;
pub mod config;
pub mod decision;
pub mod document;
pub mod flow;
pub mod http;
pub mod metrics;
pub mod oidc;
pub mod secret;
pub mod session;
pub mod shared;

#[cfg(target_arch = "wasm32")]
mod shell;
