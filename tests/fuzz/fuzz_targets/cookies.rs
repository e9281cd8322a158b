//! The session and login-flow cookies (`session::Session`,
//! `session::login_flow::LoginFlow`, `session::sealed`, and the per-VM cache
//! `session::cache::Verified`).
//!
//! Properties, beyond "never panics":
//! - what we seal opens, and opens as exactly what was sealed (any payload:
//!   the identity's strings and the times come from the input);
//! - a token opens only if it is byte for byte one we sealed: the input's
//!   mutations of a sealed token never open — not with the key, not with the
//!   rotated-out key list, not from the per-VM cache that holds the original;
//! - a session token is never a login-flow token and the reverse (the MAC
//!   binds the purpose), and neither opens under another secret;
//! - arbitrary strings never open as either, unless they are byte for byte a
//!   token we seal (libFuzzer learns the real tokens of earlier runs from
//!   the comparisons it watches, and replays them).

#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tinyauth_wasm::session::cache::Verified;
use tinyauth_wasm::session::crypto::Key;
use tinyauth_wasm::session::identity::Identity;
use tinyauth_wasm::session::login_flow::LoginFlow;
use tinyauth_wasm::session::Session;
use tinyauth_wasm_fuzz::SECRET;

#[derive(Debug, Arbitrary)]
enum Mutation {
    /// Replace the byte at this index with this byte.
    Set(u16, u8),
    /// XOR the byte at this index.
    Flip(u16, u8),
    Insert(u16, u8),
    Remove(u16),
    Truncate(u16),
    Append(String),
    /// Swap two bytes.
    Swap(u16, u16),
    /// Splice in the tail of the other kind's token from this index.
    Splice(u16),
    /// Case of one character changed.
    Case(u16),
}

#[derive(Debug, Arbitrary)]
struct Input {
    login: String,
    sub: String,
    username: String,
    email: Option<String>,
    name: String,
    groups: Vec<String>,
    created_at: u64,
    lifetime: u32,
    return_to: String,
    mutations: Vec<Mutation>,
    /// Tokens the input makes up from scratch.
    junk: Vec<String>,
    /// Seconds from the login to the last refresh.
    checked_after: u32,
    /// The sealed refresh token, opaque to the cookie.
    refresh: Option<String>,
}

struct Keys {
    session: Key,
    flow: Key,
    other_session: Key,
    other_flow: Key,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let other = b"another-secret-another-secret-another";
        Keys {
            session: Key::derive(SECRET.as_bytes(), "session"),
            flow: Key::derive(SECRET.as_bytes(), "login-flow"),
            other_session: Key::derive(other, "session"),
            other_flow: Key::derive(other, "login-flow"),
        }
    })
}

fn mutate(token: &str, other: &str, mutations: &[Mutation]) -> Option<String> {
    let mut bytes = token.as_bytes().to_vec();
    for mutation in mutations {
        let at = |i: u16, len: usize| usize::from(i) % len.max(1);
        match mutation {
            Mutation::Set(i, b) if !bytes.is_empty() => {
                let i = at(*i, bytes.len());
                bytes[i] = *b;
            }
            Mutation::Flip(i, b) if !bytes.is_empty() => {
                let i = at(*i, bytes.len());
                bytes[i] ^= b | 1;
            }
            Mutation::Insert(i, b) => {
                let i = at(*i, bytes.len() + 1);
                bytes.insert(i, *b);
            }
            Mutation::Remove(i) if !bytes.is_empty() => {
                let i = at(*i, bytes.len());
                bytes.remove(i);
            }
            Mutation::Truncate(n) => bytes.truncate(usize::from(*n)),
            Mutation::Append(text) => bytes.extend_from_slice(text.as_bytes()),
            Mutation::Swap(i, j) if !bytes.is_empty() => {
                let (i, j) = (at(*i, bytes.len()), at(*j, bytes.len()));
                bytes.swap(i, j);
            }
            Mutation::Splice(i) => {
                let (i, j) = (at(*i, bytes.len()), at(*i, other.len()));
                bytes.truncate(i);
                bytes.extend_from_slice(&other.as_bytes()[j..]);
            }
            Mutation::Case(i) if !bytes.is_empty() => {
                let i = at(*i, bytes.len());
                let b = bytes[i];
                bytes[i] = if b.is_ascii_lowercase() {
                    b.to_ascii_uppercase()
                } else {
                    b.to_ascii_lowercase()
                };
            }
            _ => {}
        }
    }
    String::from_utf8(bytes).ok()
}

/// A token opens only if it is byte for byte what we seal for what it
/// holds (the fuzzer learns real tokens of earlier runs from comparisons, so
/// "never opens" is "opens only as itself").
fn opens_only_as_sealed(token: &str, keys: &Keys, what: &str) {
    let all = [
        keys.session.clone(),
        keys.flow.clone(),
        keys.other_session.clone(),
        keys.other_flow.clone(),
    ];
    if let Ok(session) = Session::open(token, &all) {
        assert!(
            all.iter().any(|key| session.seal(key) == token),
            "{what} opened as a session we did not seal: {token:?}"
        );
    }
    if let Some(flow) = LoginFlow::open_at(token, &all, 0) {
        assert!(
            all.iter().any(|key| flow.seal(key) == token),
            "{what} opened as a login flow we did not seal: {token:?}"
        );
    }
}

fuzz_target!(|input: Input| {
    let keys = keys();
    let session = Session {
        login: input.login.clone(),
        identity: Identity {
            provider: "generic".into(),
            sub: input.sub.clone(),
            username: input.username.clone(),
            // The cookie writes no email as "": an empty one reads as none.
            email: input.email.clone().filter(|e| !e.is_empty()),
            name: input.name.clone(),
            groups: input.groups.clone(),
        },
        created_at: input.created_at,
        expires_at: input.created_at.saturating_add(u64::from(input.lifetime)),
        checked_at: input
            .created_at
            .saturating_add(u64::from(input.checked_after)),
        // The cookie writes no refresh token as "": an empty one reads as none.
        refresh: input.refresh.clone().filter(|r| !r.is_empty()),
    };
    let sealed = session.seal(&keys.session);
    let session_keys = [keys.other_session.clone(), keys.session.clone()];
    // Tokens over 8 KiB are refused unread (the filter never issues one over
    // 3,800 bytes).
    let fits = |token: &str| token.len() <= 8192;
    if fits(&sealed) {
        assert_eq!(
            Session::open(&sealed, &session_keys).as_ref(),
            Ok(&session),
            "a sealed session does not open as itself"
        );
    }
    assert!(Session::open(&sealed, std::slice::from_ref(&keys.other_session)).is_err());
    assert!(Session::open(&sealed, std::slice::from_ref(&keys.flow)).is_err());
    assert!(LoginFlow::open_at(&sealed, &[keys.flow.clone(), keys.session.clone()], 0).is_none());

    let flow = LoginFlow {
        provider: input.username.clone(),
        state: input.login.clone(),
        nonce: input.sub.clone(),
        verifier: input.name.clone(),
        return_to: input.return_to.clone(),
        expires_at: input.created_at.saturating_add(u64::from(input.lifetime)),
    };
    let flow_token = flow.seal(&keys.flow);
    if flow.expires_at > 0 && fits(&flow_token) {
        assert_eq!(
            LoginFlow::open_at(
                &flow_token,
                &[keys.other_flow.clone(), keys.flow.clone()],
                0
            )
            .as_ref(),
            Some(&flow),
            "a sealed flow does not open as itself"
        );
    }
    assert!(LoginFlow::open_at(&flow_token, std::slice::from_ref(&keys.session), 0).is_none());
    assert!(Session::open(&flow_token, &[keys.session.clone(), keys.flow.clone()]).is_err());

    // The per-VM cache holds the real session; mutations still never open.
    let cache = Verified::default();
    let at = session.created_at;
    let opened = cache.open_at(&sealed, std::slice::from_ref(&keys.session), at, 0);
    if at < session.expires_at && fits(&sealed) {
        assert_eq!(opened.as_ref(), Ok(&session));
    }

    // Only the two tokens we sealed may open (a splice can rebuild one).
    let ours = |token: &str| token == sealed || token == flow_token;
    if let Some(mutated) = mutate(&sealed, &flow_token, &input.mutations) {
        if !ours(&mutated) {
            opens_only_as_sealed(&mutated, keys, "a mutated session");
            if let Ok(session) = cache.open_at(&mutated, std::slice::from_ref(&keys.session), at, 0)
            {
                assert_eq!(
                    session.seal(&keys.session),
                    mutated,
                    "the cache served a forgery"
                );
            }
        }
    }
    if let Some(mutated) = mutate(&flow_token, &sealed, &input.mutations) {
        if !ours(&mutated) {
            opens_only_as_sealed(&mutated, keys, "a mutated flow");
        }
    }
    for junk in &input.junk {
        if !ours(junk) {
            opens_only_as_sealed(junk, keys, "a made-up token");
            if let Ok(session) = cache.open_at(junk, std::slice::from_ref(&keys.session), at, 0) {
                assert_eq!(
                    session.seal(&keys.session),
                    *junk,
                    "the cache served a forgery"
                );
            }
        }
    }
});
