//! One login in progress: the `state`, `nonce` and PKCE verifier sent to the
//! provider, and where to return afterwards. It lives in its own short-lived
//! signed cookie named after the flow, so several tabs can log in at once and no
//! server-side memory is needed (Envoy runs one VM per worker, and many Envoys).

use serde::{Deserialize, Serialize};

use crate::session::crypto::{pkce_challenge, random_token, Entropy, EntropyUnavailable, Key};
use crate::session::sealed;

const PURPOSE: &str = "login-flow";
const VERSION: u8 = 2;
/// Characters of `state` used to name the flow's cookie.
const FLOW_ID_LEN: usize = 16;

/// A login started by the filter and not yet finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFlow {
    pub provider: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    /// Validated absolute URL to return to; empty means `appUrl`.
    pub return_to: String,
    pub expires_at: u64,
}

impl LoginFlow {
    /// Starts a flow with fresh random `state`, `nonce` and PKCE verifier.
    pub fn start(
        provider: &str,
        return_to: String,
        expires_at: u64,
        rng: &mut dyn Entropy,
    ) -> Result<Self, EntropyUnavailable> {
        Ok(Self {
            provider: provider.to_owned(),
            state: random_token(rng)?,
            nonce: random_token(rng)?,
            verifier: random_token(rng)?,
            return_to,
            expires_at,
        })
    }

    /// The suffix of this flow's cookie name.
    pub fn id(&self) -> &str {
        flow_id(&self.state)
    }

    pub fn code_challenge(&self) -> String {
        pkce_challenge(&self.verifier)
    }

    pub fn seal(&self, key: &Key) -> String {
        let wire = Wire(
            VERSION,
            self.expires_at,
            &self.provider,
            &self.state,
            &self.nonce,
            &self.verifier,
            &self.return_to,
        );
        sealed::seal(&wire, PURPOSE, key)
    }

    pub fn open_at(token: &str, keys: &[Key], now: u64) -> Option<Self> {
        let OwnedWire(version, expires_at, provider, state, nonce, verifier, return_to) =
            sealed::open(token, PURPOSE, keys)?;
        let flow = Self {
            provider,
            state,
            nonce,
            verifier,
            return_to,
            expires_at,
        };
        (version == VERSION && now < flow.expires_at).then_some(flow)
    }
}

/// The payload as it is signed: a JSON array.
#[derive(Serialize)]
struct Wire<'a>(u8, u64, &'a str, &'a str, &'a str, &'a str, &'a str);

#[derive(Deserialize)]
struct OwnedWire(u8, u64, String, String, String, String, String);

pub fn flow_id(state: &str) -> &str {
    let end = state
        .char_indices()
        .take(FLOW_ID_LEN)
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .last()
        .map_or(0, |(i, c)| i + c.len_utf8());
    state.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(u8);
    impl Entropy for Counter {
        fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyUnavailable> {
            for b in buf {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
            Ok(())
        }
    }

    #[test]
    fn fresh_values_are_long_enough_for_pocket_id() {
        let flow = LoginFlow::start("generic", String::new(), 600, &mut Counter(0)).unwrap();
        assert_eq!(flow.state.len(), 43);
        assert_eq!(flow.nonce.len(), 43);
        assert_eq!(flow.verifier.len(), 43);
        assert_ne!(flow.state, flow.nonce);
        assert_ne!(flow.nonce, flow.verifier);
        assert_eq!(flow.id().len(), 16);
        assert_eq!(flow.code_challenge().len(), 43);
    }

    #[test]
    fn round_trip_and_expiry() {
        let key = Key::derive(b"0123456789abcdef0123456789abcdef", "login-flow");
        let flow = LoginFlow::start(
            "generic",
            "https://app.example.com/x?y=1".into(),
            600,
            &mut Counter(7),
        )
        .unwrap();
        let token = flow.seal(&key);
        let keys = std::slice::from_ref(&key);
        assert_eq!(LoginFlow::open_at(&token, keys, 599), Some(flow));
        assert_eq!(LoginFlow::open_at(&token, keys, 600), None);
        let other = Key::derive(b"0123456789abcdef0123456789abcdef", "session");
        assert_eq!(
            LoginFlow::open_at(&token, std::slice::from_ref(&other), 1),
            None
        );
    }

    #[test]
    fn flow_ids_are_cookie_safe() {
        assert_eq!(flow_id("abcdefghijklmnopqrstuvwxyz"), "abcdefghijklmnop");
        assert_eq!(flow_id("abc"), "abc");
        assert_eq!(flow_id("ab;c=d"), "ab");
        assert_eq!(flow_id("é"), "");
        assert_eq!(flow_id(""), "");
    }
}
