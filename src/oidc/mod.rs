//! OpenID Connect: what the filter learns about each provider (discovery, key
//! sets), ID-token verification, the messages it exchanges with the provider,
//! the login exchange, and the endpoints of the auth host.

pub mod auth_host;
pub mod discovery;
pub mod document;
pub mod id_token;
pub mod jwks;
pub mod login;
pub mod messages;
