//! The request as the filter sees it — host, method, path and query, cookies
//! (with a real session cookie injected when the input asks for one),
//! client-sent identity headers in every spelling, peer address and
//! `X-Forwarded-For` — through `RequestView::from_headers` and
//! `flow::on_request` with a configuration that has path, IP, group, user and
//! email rules (`rules_config`).
//!
//! Properties, beyond "never panics":
//! - a forwarded request carries no client-sent identity header: each one is
//!   removed or overwritten by the filter's own value;
//! - identity headers are only ever set from a valid session the request
//!   carried, say exactly who its user is (control characters dropped, no
//!   group with a comma), and only for a user the app's rules admit;
//! - a request without a valid session is forwarded only when an IP bypass
//!   applies or the path is public, and then every way an upstream may read
//!   the path (an oracle independent of `http::path`) is under the public
//!   prefix of `path.allow` / outside `path.block`;
//! - the filter's own cookies never reach the upstream;
//! - answers redirect only to the auth host, the provider or a host the
//!   session cookie covers (no open redirect), and no header
//!   value or log line holds a line break;
//! - the same request decided again (its session now served from the per-VM
//!   cache) is decided the same way.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tinyauth_wasm::access;
use tinyauth_wasm::config::Config;
use tinyauth_wasm::decision::Forward;
use tinyauth_wasm::flow;
use tinyauth_wasm::http::cookie;
use tinyauth_wasm::http::ip::client_ip;
use tinyauth_wasm::http::path::readings;
use tinyauth_wasm::http::request::{is_identity_header, RequestView};
use tinyauth_wasm::oidc::discovery::Runtime;
use tinyauth_wasm::oidc::Action;
use tinyauth_wasm::session::identity::Identity;
use tinyauth_wasm_fuzz::common::{self, Counter};
use tinyauth_wasm_fuzz::{
    build_path, ip, one_line, rules_config, seal, session_for, under_blocked, under_public,
    upstream_views, users, PathPiece, ADDRESSES, HOSTS, NOW,
};

#[derive(Debug, Arbitrary)]
enum Host {
    Known(u8),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Path {
    Pieces(Vec<PathPiece>),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
struct SessionCookie {
    user: u8,
    /// Seconds before `NOW` the login happened.
    age: u16,
    /// Seconds after `NOW` it expires (negative: expired).
    left: i32,
    /// Where among the other cookies it goes.
    position: u8,
    /// Sent as `"value"`.
    quoted: bool,
}

#[derive(Debug, Arbitrary)]
enum Spelling {
    Known(u8),
    Raw(String),
}

const SPELLINGS: &[&str] = &[
    "remote-user",
    "remote-email",
    "remote-name",
    "remote-groups",
    "remote-sub",
    "Remote-User",
    "remote_user",
    "REMOTE.EMAIL",
    "remote-user ",
    "remote-anything",
    "remote-",
    "remoteuser",
];

#[derive(Debug, Arbitrary)]
struct Input {
    host: Host,
    /// `host` instead of `:authority`.
    host_header: bool,
    method: u8,
    path: Path,
    query: Option<String>,
    session: Option<SessionCookie>,
    cookies: Vec<String>,
    identity: Vec<(Spelling, String)>,
    extra: Vec<(String, String)>,
    peer: Option<u8>,
    forwarded_for: Option<Vec<Result<u8, String>>>,
    agent: u8,
}

struct Fixture {
    env: common::Env,
    users: Vec<Identity>,
}

fn fixture() -> &'static Fixture {
    // The per-VM state holds a `RefCell`: one fixture per (the) thread.
    thread_local! {
        static FIXTURE: &'static Fixture = Box::leak(Box::new(Fixture {
        env: common::compile(&rules_config()),
        users: users(),
    }));
    }
    FIXTURE.with(|fixture| *fixture)
}

/// The oracle for the rules of `rules_config`: whether `user` may enter `app`.
fn may_enter(app: Option<&str>, user: &Identity) -> bool {
    let groups = |g: &str| user.groups.iter().any(|have| have.trim() == g);
    match app {
        Some("admin") => groups("admins"),
        Some("whoami") => ["alice", "bob"].contains(&user.username.as_str()),
        Some("docs") => groups("users"),
        Some("blog") => user.username != "bob",
        Some("legacy") => user.email.as_deref() == Some("alice@example.com"),
        // No rule admits anyone and the policy is deny.
        _ => false,
    }
}

/// Whether a session of `user` is valid at `NOW` (the global whitelist is
/// `/@example\.com$/` and is checked on every request).
fn valid(user: &Identity, expires_at: u64) -> bool {
    expires_at > NOW
        && user
            .email
            .as_deref()
            .is_some_and(|email| email.ends_with("@example.com"))
}

fn no_control(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

fn check_forward(
    config: &Config,
    view: &RequestView<'_>,
    headers: &[(String, String)],
    forward: &Forward,
    signed_in: Option<&Identity>,
) {
    let set = |name: &str| {
        forward
            .set
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    // No client-sent identity header survives.
    for (name, _) in headers {
        if is_identity_header(name) {
            assert!(
                forward.remove.iter().any(|r| r == name) || set(name).is_some(),
                "client-sent identity header {name:?} reaches the upstream: {forward:?}"
            );
        }
    }
    for (name, value) in &forward.set {
        assert!(
            !value.chars().any(char::is_control),
            "header {name} carries a control character: {value:?}"
        );
    }
    let identity_set: Vec<&str> = forward
        .set
        .iter()
        .map(|(n, _)| n.as_ref())
        .filter(|n| is_identity_header(n))
        .collect();
    let host = view.host();
    let app = access::find_app(config, &host).map(|a| a.name.as_str());
    match signed_in {
        Some(user) if !identity_set.is_empty() => {
            assert_eq!(
                set("remote-user"),
                Some(no_control(&user.username))
                    .filter(|u| !u.is_empty())
                    .as_deref()
            );
            assert_eq!(
                set("remote-sub"),
                Some(no_control(&user.sub))
                    .filter(|u| !u.is_empty())
                    .as_deref()
            );
            assert_eq!(
                set("remote-email"),
                user.email.as_deref().map(no_control).as_deref()
            );
            if let Some(groups) = set("remote-groups") {
                for group in groups.split(',') {
                    assert!(
                        user.groups
                            .iter()
                            .any(|g| !g.contains(',') && no_control(g) == group),
                        "group {group:?} is not one of {:?}",
                        user.groups
                    );
                }
            }
            assert!(may_enter(app, user), "{user:?} was let into {app:?}");
        }
        _ => {
            assert!(
                identity_set.is_empty(),
                "identity headers {identity_set:?} set without a valid session"
            );
            // Forwarded without anyone signed in: bypassed or public.
            let client = client_ip(view.peer, view.forwarded_for, &config.trusted_proxies);
            let app_rules = access::find_app(config, &host);
            let bypassed = client.is_some_and(|ip| {
                config.ip.bypass.contains(ip) || app_rules.is_some_and(|a| a.ip.bypass.contains(ip))
            });
            if !bypassed {
                let path = view.path_only();
                let views = upstream_views(path);
                let read = readings(path).expect("a public path has readings");
                match app {
                    Some("docs") => {
                        for v in &views {
                            assert!(
                                under_public(v),
                                "{path:?} was public, but an upstream may read it as {v:?} (readings {read:?})"
                            );
                        }
                    }
                    Some("blog") => {
                        for v in &views {
                            assert!(
                                !under_blocked(v),
                                "{path:?} was public, but an upstream may read it as {v:?} (readings {read:?})"
                            );
                        }
                    }
                    other => panic!("{path:?} forwarded without a session to {other:?}"),
                }
            }
        }
    }
    // The filter's own cookies never reach the app.
    let own = |name: &str| {
        let c = &config.site.cookies;
        name == c.session_name || name == c.id_token_name || name.starts_with(&c.flow_prefix)
    };
    match &forward.cookie {
        Some(rewritten) => assert!(
            cookie::pairs(rewritten).all(|(name, _)| !own(name)),
            "own cookie forwarded in {rewritten:?}"
        ),
        None => assert!(
            cookie::pairs(&view.cookies).all(|(name, _)| !own(name)),
            "own cookie left in {:?}",
            view.cookies
        ),
    }
}

/// A session cookie to add to the request: `(user, seconds left)`.
type Injected = Option<(usize, i64, u16, bool, usize)>;

/// Structured input (`arbitrary`): every part of the request chosen apart.
fn structured(input: &Input) -> (Vec<(String, String)>, Option<usize>, Injected) {
    let mut headers: Vec<(String, String)> = Vec::new();
    let method = ["GET", "POST", "HEAD", "OPTIONS", "get", ""][usize::from(input.method) % 6];
    headers.push((":method".into(), method.into()));
    let host = match &input.host {
        Host::Known(i) => HOSTS[usize::from(*i) % HOSTS.len()].to_owned(),
        Host::Raw(raw) => raw.clone(),
    };
    let host_name = if input.host_header {
        "host"
    } else {
        ":authority"
    };
    headers.push((host_name.into(), host));
    let mut path = match &input.path {
        Path::Pieces(pieces) => build_path(pieces),
        Path::Raw(raw) => raw.clone(),
    };
    if let Some(query) = &input.query {
        path.push('?');
        path.push_str(query);
    }
    headers.push((":path".into(), path));
    let agent = [
        None,
        Some(common::CHROME),
        Some("curl/8.5.0"),
        Some("Mozilla/5.0 Gecko/20100101 Firefox/128.0"),
    ][usize::from(input.agent) % 4];
    if let Some(agent) = agent {
        headers.push(("user-agent".into(), agent.into()));
    }
    if input.agent & 0x10 != 0 {
        headers.push(("accept".into(), "text/html".into()));
    }
    if input.agent & 0x20 != 0 {
        headers.push(("sec-fetch-mode".into(), "cors".into()));
    }
    for c in &input.cookies {
        headers.push(("cookie".into(), c.clone()));
    }
    for (spelling, value) in &input.identity {
        let name = match spelling {
            Spelling::Known(i) => SPELLINGS[usize::from(*i) % SPELLINGS.len()].to_owned(),
            Spelling::Raw(raw) => format!("remote-{raw}"),
        };
        headers.push((name, value.clone()));
    }
    for (name, value) in &input.extra {
        headers.push((name.clone(), value.clone()));
    }
    if let Some(forwarded) = &input.forwarded_for {
        let entries: Vec<String> = forwarded
            .iter()
            .map(|entry| match entry {
                Ok(i) => ADDRESSES[usize::from(*i) % ADDRESSES.len()].to_owned(),
                Err(raw) => raw.clone(),
            })
            .collect();
        headers.push(("x-forwarded-for".into(), entries.join(", ")));
    }
    let injected = input.session.as_ref().map(|choice| {
        (
            usize::from(choice.user),
            i64::from(choice.left),
            choice.age,
            choice.quoted,
            usize::from(choice.position),
        )
    });
    (headers, input.peer.map(usize::from), injected)
}

/// Text input (the seed corpus's form): a flags byte, then `name: value`
/// lines. Flags: bits 0–2 pick a session (0: none), bit 3 makes it expired,
/// bits 4–6 pick the peer address (0: none).
fn text(flags: u8, rest: &[u8]) -> (Vec<(String, String)>, Option<usize>, Injected) {
    let text = String::from_utf8_lossy(rest);
    let headers = text
        .split('\n')
        .filter_map(|line| {
            // `:path: /x` — a pseudo-header's name has a colon of its own.
            let skip = usize::from(line.starts_with(':'));
            let colon = line.get(skip..)?.find(':')? + skip;
            let (name, value) = (line.get(..colon)?, line.get(colon + 1..)?);
            Some((
                name.to_owned(),
                value.strip_prefix(' ').unwrap_or(value).to_owned(),
            ))
        })
        .collect();
    let user = usize::from(flags & 7);
    let left = if flags & 8 != 0 { -60 } else { 3600 };
    let injected = (user > 0).then(|| (user - 1, left, 600, false, 0));
    let peer = usize::from((flags >> 4) & 7);
    (headers, (peer > 0).then(|| peer - 1), injected)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (mut headers, peer, injected) = if mode & 0x80 != 0 {
        text(mode, rest)
    } else {
        let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(rest)) else {
            return;
        };
        structured(&input)
    };
    let fixture = fixture();
    let config = &fixture.env.config;
    let mut signed_in = None;
    if let Some((user, left, age, quoted, position)) = injected {
        let user = &fixture.users[user % fixture.users.len()];
        let created_at = NOW - u64::from(age);
        let expires_at = NOW.saturating_add_signed(left);
        let token = seal(config, &session_for(user, created_at, expires_at));
        let value = if quoted {
            format!("\"{token}\"")
        } else {
            token
        };
        let pair = format!("{}={value}", config.site.cookies.session_name);
        let cookies = headers.iter().filter(|(n, _)| n == "cookie").count();
        let at = position % (cookies + 1);
        let index = headers
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| n == "cookie")
            .nth(at)
            .map_or(headers.len(), |(i, _)| i);
        headers.insert(index, ("cookie".into(), pair));
        if valid(user, expires_at) {
            signed_in = Some(user);
        }
    }

    let mut view = RequestView::from_headers(&headers);
    view.peer = peer.map(|i| ip(ADDRESSES[i % ADDRESSES.len()]));
    // A fresh per-VM state: the second decision is served from its cache.
    let runtime: Runtime = fixture.env.runtime.clone();
    let first = flow::on_request(config, &runtime, &view, NOW, &mut Counter(0));
    let again = flow::on_request(config, &runtime, &view, NOW, &mut Counter(0));
    assert_eq!(
        format!("{:?}", first.action),
        format!("{:?}", again.action),
        "the session cache changed the decision"
    );

    for line in &first.log {
        assert!(
            one_line(&line.message),
            "log line breaks: {:?}",
            line.message
        );
    }
    match &first.action {
        Action::Forward(forward) => check_forward(config, &view, &headers, forward, signed_in),
        Action::Respond(response) => {
            for (name, value) in &response.headers {
                assert!(
                    !value.contains(['\r', '\n', '\0']),
                    "response header {name} breaks: {value:?}"
                );
            }
            if let Some(location) = response.header_value("location") {
                // The auth host, the provider, or (after a login) a host the
                // session cookie covers: never anywhere else.
                let host = location
                    .strip_prefix("https://")
                    .and_then(|rest| rest.split(['/', '?', '#']).next())
                    .unwrap_or_default();
                assert!(
                    host == "auth.example.com"
                        || host == "id.example.com"
                        || host == "example.com"
                        || (host.ends_with(".example.com")
                            && !host.contains(['@', ':', '\\', '%'])),
                    "redirect to {location:?}"
                );
            }
        }
        Action::Call { call, .. } => {
            assert_eq!(call.cluster, "pocket_id", "{call:?}");
        }
    }
});
