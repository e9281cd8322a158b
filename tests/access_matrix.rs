//! The access-control matrix: one line per case, each a configuration, a
//! request (host, path, peer address, X-Forwarded-For) and a user, and the
//! outcome Tinyauth's rules give. Driven through `flow::on_request`, so app
//! lookup, client-IP resolution, path cleaning and rule order are all covered.

// Test code fails loudly by design; the no-panic rule is for `src/`.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::type_complexity
)]

mod common;

use common::{compile, CHROME, NOW, SECRET};
use serde_json::{json, Value};
use tinyauth_wasm::flow;
use tinyauth_wasm::http::request::RequestView;
use tinyauth_wasm::metrics::{Count, Refusal};
use tinyauth_wasm::oidc::Action;
use tinyauth_wasm::session::identity::Identity;
use tinyauth_wasm::session::Session;

fn user(name: &str) -> Identity {
    let (email, groups): (Option<&str>, &[&str]) = match name {
        "alice" => (Some("alice@example.com"), &["admins", "users"]),
        "bob" => (Some("bob@example.com"), &["users"]),
        "carol" => (Some("carol@other.org"), &[]),
        "dave" => (None, &["users"]),
        "mallory" => (Some("x@example.com.evil.net"), &["users"]),
        other => panic!("unknown test user {other}"),
    };
    Identity {
        provider: "generic".into(),
        sub: format!("sub-{name}"),
        username: name.into(),
        email: email.map(str::to_owned),
        name: name.into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    }
}

fn config(auth: &str, apps: &str) -> common::Env {
    let auth: Value = serde_json::from_str(if auth.is_empty() { "{}" } else { auth }).unwrap();
    let apps: Value = serde_json::from_str(if apps.is_empty() { "{}" } else { apps }).unwrap();
    compile(&json!({
        "appUrl": "https://auth.example.com",
        "secret": SECRET,
        "auth": auth,
        "oauth": {"providers": {"generic": {
            "clientId": "c", "clientSecret": "s",
            "authUrl": "https://id.example.com/authorize",
            "tokenUrl": "https://id.example.com/token",
            "userInfoUrl": "https://id.example.com/userinfo"
        }}},
        "apps": apps
    }))
}

/// What happened to the request, in the matrix's words.
fn outcome(auth: &str, apps: &str, url: &str, peer: &str, xff: &str, who: &str) -> String {
    let config = config(auth, apps);
    let rest = url.strip_prefix("https://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut headers = vec![
        (":method".to_owned(), "GET".to_owned()),
        (":authority".to_owned(), authority.to_owned()),
        (":path".to_owned(), path.to_owned()),
        ("user-agent".to_owned(), CHROME.to_owned()),
    ];
    if !xff.is_empty() {
        headers.push(("x-forwarded-for".to_owned(), xff.to_owned()));
    }
    if !who.is_empty() {
        let session = Session {
            login: "matrix".into(),
            identity: user(who),
            created_at: NOW,
            expires_at: NOW + 3600,
            checked_at: NOW,
            refresh: None,
        };
        let cookie = session.seal(&config.keys.session[0]);
        headers.push((
            "cookie".to_owned(),
            format!("{}={cookie}", config.site.cookies.session_name),
        ));
    }
    let mut view = RequestView::from_headers(&headers);
    view.peer = Some(peer.parse().unwrap());
    let decision = flow::on_request(
        &config,
        &config.runtime,
        &view,
        NOW,
        &mut common::Counter::default(),
    );
    match &decision.action {
        Action::Forward(forward) if forward.set.iter().any(|(n, _)| n == "remote-user") => {
            "forward".into()
        }
        Action::Forward(_) => "anon".into(),
        Action::Respond(r)
            if r.status == 302 && r.header_value("location").unwrap().contains("/login") =>
        {
            "login".into()
        }
        Action::Respond(r) if r.status == 403 => {
            let kind = match decision.counts.as_slice() {
                [Count::Refused403(Refusal::Ip)] => "ip",
                [Count::Refused403(Refusal::User)] => "user",
                [Count::Refused403(Refusal::Whitelist)] => "whitelist",
                [Count::Refused403(Refusal::Group)] => "group",
                [Count::Refused403(Refusal::Policy)] => "policy",
                other => panic!("a 403 counted as {other:?}"),
            };
            let audit = decision.audit.as_ref().unwrap();
            assert_eq!((audit.event, audit.decision), ("refused", "deny"));
            // The page says why in plain words (Denial::public_reason).
            let page = String::from_utf8_lossy(&r.body);
            let reason = match kind {
                "ip" => "cannot be opened from your network address",
                "group" => "You are not in a group that may use this app.",
                "whitelist" => "Your email address is not allowed to use this app.",
                _ => "Your account is not allowed to use this app.",
            };
            assert!(page.contains(reason), "{kind}: {page}");
            format!("deny:{kind}")
        }
        other => panic!("unexpected action {other:?}"),
    }
}

const A: &str = "https://admin.example.com/";
const W: &str = "https://whoami.example.com/";
const PEER: &str = "198.51.100.20";

#[test]
#[allow(clippy::too_many_lines)]
fn access_matrix() {
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str, &str, &str, &str, &str, &str)] = &[
        // (name, auth, apps, url, peer, x-forwarded-for, user, outcome)
        // --- app lookup
        ("name match applies the app's rules", "", r#"{"admin":{"oauth":{"groups":"admins"}}}"#, A, PEER, "", "bob", "deny:group"),
        ("name match lets a member in", "", r#"{"admin":{"oauth":{"groups":"admins"}}}"#, A, PEER, "", "alice", "forward"),
        ("host case is ignored (CVE-2026-77560)", "", r#"{"admin":{"oauth":{"groups":"admins"}}}"#, "https://ADMIN.Example.COM/", PEER, "", "bob", "deny:group"),
        ("app name case is ignored", "", r#"{"Admin":{"oauth":{"groups":"admins"}}}"#, A, PEER, "", "bob", "deny:group"),
        ("port is ignored", "", r#"{"admin":{"oauth":{"groups":"admins"}}}"#, "https://admin.example.com:8443/", PEER, "", "bob", "deny:group"),
        ("trailing dot is ignored", "", r#"{"admin":{"oauth":{"groups":"admins"}}}"#, "https://admin.example.com./", PEER, "", "bob", "deny:group"),
        ("configured domain matches", "", r#"{"panel":{"config":{"domain":"admin.example.com"},"oauth":{"groups":"admins"}}}"#, A, PEER, "", "bob", "deny:group"),
        ("configured domain, any case", "", r#"{"panel":{"config":{"domain":"Admin.Example.com"},"oauth":{"groups":"admins"}}}"#, "https://admin.EXAMPLE.com/", PEER, "", "bob", "deny:group"),
        ("domain match beats name match", "", r#"{"admin":{"oauth":{"groups":"admins"}},"open":{"config":{"domain":"admin.example.com"}}}"#, A, PEER, "", "bob", "forward"),
        ("one of several domains", "", r#"{"panel":{"config":{"domain":"x.example.com, admin.example.com"},"oauth":{"groups":"admins"}}}"#, A, PEER, "", "bob", "deny:group"),
        ("a longer first label is another app", "", r#"{"admin":{"oauth":{"groups":"admins"}}}"#, "https://administrator.example.com/", PEER, "", "bob", "forward"),
        ("no app: allow policy lets users in", "", r#"{"admin":{"oauth":{"groups":"admins"}}}"#, W, PEER, "", "carol", "forward"),
        ("no app: deny policy refuses", r#"{"acls":{"policy":"deny"}}"#, "", W, PEER, "", "alice", "deny:policy"),
        ("no app: deny policy still asks to log in first", r#"{"acls":{"policy":"deny"}}"#, "", W, PEER, "", "", "login"),
        ("unauthenticated is sent to log in", "", r#"{"admin":{"oauth":{"groups":"admins"}}}"#, A, PEER, "", "", "login"),
        // --- users.allow / users.block
        ("users.allow admits a listed user", "", r#"{"admin":{"users":{"allow":"alice,bob"}}}"#, A, PEER, "", "bob", "forward"),
        ("users.allow refuses others", "", r#"{"admin":{"users":{"allow":"alice"}}}"#, A, PEER, "", "bob", "deny:user"),
        ("users.allow is case-sensitive", "", r#"{"admin":{"users":{"allow":"Alice"}}}"#, A, PEER, "", "alice", "deny:user"),
        ("users.allow regex", "", r#"{"admin":{"users":{"allow":"/a.*/"}}}"#, A, PEER, "", "alice", "forward"),
        ("users.allow regex refuses", "", r#"{"admin":{"users":{"allow":"/a.*/"}}}"#, A, PEER, "", "bob", "deny:user"),
        ("users.allow regex searches, as Go's MatchString", "", r#"{"admin":{"users":{"allow":"/li/"}}}"#, A, PEER, "", "alice", "forward"),
        ("users.allow regex anchored by the operator", "", r#"{"admin":{"users":{"allow":"/^li$/"}}}"#, A, PEER, "", "alice", "deny:user"),
        ("users.block refuses a listed user", "", r#"{"admin":{"users":{"block":"bob"}}}"#, A, PEER, "", "bob", "deny:user"),
        ("users.block admits others", "", r#"{"admin":{"users":{"block":"bob"}}}"#, A, PEER, "", "alice", "forward"),
        ("users.block alone decides over users.allow", "", r#"{"admin":{"users":{"block":"bob","allow":"carol"}}}"#, A, PEER, "", "alice", "forward"),
        ("users.block counts as an allow under deny policy", r#"{"acls":{"policy":"deny"}}"#, r#"{"admin":{"users":{"block":"bob"}}}"#, A, PEER, "", "alice", "forward"),
        // --- oauth.whitelist (emails)
        ("app whitelist admits a listed email", "", r#"{"admin":{"oauth":{"whitelist":"alice@example.com"}}}"#, A, PEER, "", "alice", "forward"),
        ("app whitelist refuses others", "", r#"{"admin":{"oauth":{"whitelist":"alice@example.com"}}}"#, A, PEER, "", "bob", "deny:whitelist"),
        ("app whitelist ignores email case", "", r#"{"admin":{"oauth":{"whitelist":"ALICE@Example.com"}}}"#, A, PEER, "", "alice", "forward"),
        ("app whitelist regex", "", r#"{"admin":{"oauth":{"whitelist":"/.*@example\\.com/"}}}"#, A, PEER, "", "bob", "forward"),
        ("app whitelist regex refuses another domain", "", r#"{"admin":{"oauth":{"whitelist":"/.*@example\\.com/"}}}"#, A, PEER, "", "carol", "deny:whitelist"),
        ("app whitelist regex without $ matches a suffix trick, as in Tinyauth", "", r#"{"admin":{"oauth":{"whitelist":"/@example\\.com/"}}}"#, A, PEER, "", "mallory", "forward"),
        ("app whitelist regex with $ refuses the suffix trick", "", r#"{"admin":{"oauth":{"whitelist":"/@example\\.com$/"}}}"#, A, PEER, "", "mallory", "deny:whitelist"),
        ("app whitelist regex with $ admits its domain", "", r#"{"admin":{"oauth":{"whitelist":"/@example\\.com$/"}}}"#, A, PEER, "", "bob", "forward"),
        ("app whitelist refuses a user without email", "", r#"{"admin":{"oauth":{"whitelist":"/.*/"}}}"#, A, PEER, "", "dave", "deny:whitelist"),
        ("whitelist and users.allow must both pass", "", r#"{"admin":{"oauth":{"whitelist":"/.*@example\\.com/"},"users":{"allow":"alice"}}}"#, A, PEER, "", "bob", "deny:user"),
        ("whitelist and users.allow both passing", "", r#"{"admin":{"oauth":{"whitelist":"/.*@example\\.com/"},"users":{"allow":"alice"}}}"#, A, PEER, "", "alice", "forward"),
        // --- oauth.groups
        ("group member is let in", "", r#"{"admin":{"oauth":{"groups":"admins"}}}"#, A, PEER, "", "alice", "forward"),
        ("user in no group is refused", "", r#"{"admin":{"oauth":{"groups":"admins"}}}"#, A, PEER, "", "carol", "deny:group"),
        ("any listed group suffices", "", r#"{"admin":{"oauth":{"groups":"ops, users"}}}"#, A, PEER, "", "bob", "forward"),
        ("group regex", "", r#"{"admin":{"oauth":{"groups":"/adm.*/"}}}"#, A, PEER, "", "alice", "forward"),
        ("group regex refuses", "", r#"{"admin":{"oauth":{"groups":"/adm.*/"}}}"#, A, PEER, "", "bob", "deny:group"),
        ("group regex searches, as Go's MatchString", "", r#"{"admin":{"oauth":{"groups":"/min/"}}}"#, A, PEER, "", "alice", "forward"),
        ("group regex anchored by the operator", "", r#"{"admin":{"oauth":{"groups":"/^min$/"}}}"#, A, PEER, "", "alice", "deny:group"),
        ("groups are case-sensitive", "", r#"{"admin":{"oauth":{"groups":"Admins"}}}"#, A, PEER, "", "alice", "deny:group"),
        ("user rule passes but group rule refuses", "", r#"{"admin":{"users":{"allow":"bob"},"oauth":{"groups":"admins"}}}"#, A, PEER, "", "bob", "deny:group"),
        // --- policy
        ("deny policy refuses when no rule decides", r#"{"acls":{"policy":"deny"}}"#, r#"{"admin":{}}"#, A, PEER, "", "alice", "deny:policy"),
        ("deny policy: a matching group allows", r#"{"acls":{"policy":"deny"}}"#, r#"{"admin":{"oauth":{"groups":"admins"}}}"#, A, PEER, "", "alice", "forward"),
        ("deny policy: a non-matching group refuses", r#"{"acls":{"policy":"deny"}}"#, r#"{"admin":{"oauth":{"groups":"admins"}}}"#, A, PEER, "", "bob", "deny:group"),
        ("deny policy: users.allow allows", r#"{"acls":{"policy":"deny"}}"#, r#"{"admin":{"users":{"allow":"alice"}}}"#, A, PEER, "", "alice", "forward"),
        ("allow policy with no rules", r#"{"acls":{"policy":"allow"}}"#, r#"{"admin":{}}"#, A, PEER, "", "carol", "forward"),
        // --- path.allow / path.block
        ("path.allow opens a path without login", "", r#"{"admin":{"path":{"allow":"^/public"}}}"#, "https://admin.example.com/public/x", PEER, "", "", "anon"),
        ("path.allow keeps other paths closed", "", r#"{"admin":{"path":{"allow":"^/public"}}}"#, "https://admin.example.com/private", PEER, "", "", "login"),
        ("path.allow: dot-dot cannot escape", "", r#"{"admin":{"path":{"allow":"^/public"}}}"#, "https://admin.example.com/public/../admin", PEER, "", "", "login"),
        ("path.allow: encoded dot-dot cannot escape", "", r#"{"admin":{"path":{"allow":"^/public"}}}"#, "https://admin.example.com/public/%2e%2e/admin", PEER, "", "", "login"),
        ("path.allow: encoded slash cannot escape", "", r#"{"admin":{"path":{"allow":"^/public"}}}"#, "https://admin.example.com/public%2F..%2Fadmin", PEER, "", "", "login"),
        ("path.allow: double slash is cleaned", "", r#"{"admin":{"path":{"allow":"^/public"}}}"#, "https://admin.example.com//public/x", PEER, "", "", "anon"),
        ("path.allow ignores the query", "", r#"{"admin":{"path":{"allow":"^/public"}}}"#, "https://admin.example.com/private?next=/public", PEER, "", "", "login"),
        ("path.allow regex is unanchored, as in Tinyauth", "", r#"{"admin":{"path":{"allow":"\\.css$"}}}"#, "https://admin.example.com/assets/site.css", PEER, "", "", "anon"),
        ("path.block: other paths are public", "", r#"{"admin":{"path":{"block":"^/admin"}}}"#, "https://admin.example.com/home", PEER, "", "", "anon"),
        ("path.block: matching paths need login", "", r#"{"admin":{"path":{"block":"^/admin"}}}"#, "https://admin.example.com/admin/users", PEER, "", "", "login"),
        ("path.block: encoded letters are decoded", "", r#"{"admin":{"path":{"block":"^/admin"}}}"#, "https://admin.example.com/%61dmin", PEER, "", "", "login"),
        ("public path gets no identity even when signed in", "", r#"{"admin":{"path":{"allow":"^/public"}}}"#, "https://admin.example.com/public/", PEER, "", "alice", "anon"),
        ("public path is checked before ip.block", "", r#"{"admin":{"path":{"allow":"^/public"},"ip":{"block":"198.51.100.0/24"}}}"#, "https://admin.example.com/public/", PEER, "", "", "anon"),
        // --- ip.block / ip.allow
        ("ip.block refuses before login", "", r#"{"admin":{"ip":{"block":"198.51.100.0/24"}}}"#, A, PEER, "", "", "deny:ip"),
        ("ip.block refuses a signed-in user", "", r#"{"admin":{"ip":{"block":"198.51.100.0/24"}}}"#, A, PEER, "", "alice", "deny:ip"),
        ("ip.block leaves other addresses alone", "", r#"{"admin":{"ip":{"block":"203.0.113.0/24"}}}"#, A, PEER, "", "alice", "forward"),
        ("ip.block single address", "", r#"{"admin":{"ip":{"block":"198.51.100.20"}}}"#, A, PEER, "", "alice", "deny:ip"),
        ("ip.block Tinyauth dash syntax", "", r#"{"admin":{"ip":{"block":"198.51.100.0-24"}}}"#, A, PEER, "", "alice", "deny:ip"),
        ("ip.allow admits a listed range", "", r#"{"admin":{"ip":{"allow":"198.51.100.0/24"}}}"#, A, PEER, "", "alice", "forward"),
        ("ip.allow refuses others", "", r#"{"admin":{"ip":{"allow":"10.0.0.0/8"}}}"#, A, PEER, "", "alice", "deny:ip"),
        ("global ip.block applies to every app", r#"{"ip":{"block":"198.51.100.0/24"}}"#, "", W, PEER, "", "alice", "deny:ip"),
        ("global ip.allow refuses others on every app", r#"{"ip":{"allow":"10.0.0.0/8"}}"#, "", W, PEER, "", "alice", "deny:ip"),
        ("global ip.allow refuses others on an app with its own rules", r#"{"ip":{"allow":"10.0.0.0/8"}}"#, r#"{"admin":{"ip":{"block":"203.0.113.0/24"}}}"#, A, PEER, "", "alice", "deny:ip"),
        ("global ip.allow admits a listed address", r#"{"ip":{"allow":"198.51.100.0/24"}}"#, "", W, PEER, "", "alice", "forward"),
        ("global and app allow lists merge", r#"{"ip":{"allow":"10.0.0.0/8"}}"#, r#"{"admin":{"ip":{"allow":"198.51.100.0/24"}}}"#, A, PEER, "", "alice", "forward"),
        ("block wins over allow", "", r#"{"admin":{"ip":{"allow":"198.51.100.0/24","block":"198.51.100.20"}}}"#, A, PEER, "", "alice", "deny:ip"),
        ("IPv6 block", "", r#"{"admin":{"ip":{"block":"2001:db8::/32"}}}"#, A, "2001:db8::7", "", "alice", "deny:ip"),
        ("IPv6 allow", "", r#"{"admin":{"ip":{"allow":"::1"}}}"#, A, "::1", "", "alice", "forward"),
        ("IPv6 allow refuses IPv4", "", r#"{"admin":{"ip":{"allow":"2001:db8::/32"}}}"#, A, PEER, "", "alice", "deny:ip"),
        ("IPv4-mapped peer matches an IPv4 block", "", r#"{"admin":{"ip":{"block":"198.51.100.0/24"}}}"#, A, "::ffff:198.51.100.20", "", "alice", "deny:ip"),
        // --- ip.bypass
        ("ip.bypass needs no login", "", r#"{"admin":{"ip":{"bypass":"198.51.100.20"}}}"#, A, PEER, "", "", "anon"),
        ("global ip.bypass", r#"{"ip":{"bypass":"198.51.100.0/24"}}"#, "", W, PEER, "", "", "anon"),
        ("ip.bypass comes before ip.block", "", r#"{"admin":{"ip":{"bypass":"198.51.100.20","block":"198.51.100.0/24"}}}"#, A, PEER, "", "", "anon"),
        ("ip.bypass comes before the group rule", "", r#"{"admin":{"ip":{"bypass":"198.51.100.20"},"oauth":{"groups":"admins"}}}"#, A, PEER, "", "bob", "anon"),
        ("ip.bypass for another address does nothing", "", r#"{"admin":{"ip":{"bypass":"10.0.0.5"}}}"#, A, PEER, "", "", "login"),
        // --- client IP and trusted proxies
        ("X-Forwarded-For is ignored without trusted proxies", "", r#"{"admin":{"ip":{"bypass":"10.0.0.5"}}}"#, A, PEER, "10.0.0.5", "", "login"),
        ("an untrusted peer cannot spoof X-Forwarded-For", r#"{"trustedProxies":"10.0.0.0/8"}"#, r#"{"admin":{"ip":{"bypass":"10.0.0.5"}}}"#, A, PEER, "10.0.0.5", "", "login"),
        ("a trusted proxy's X-Forwarded-For is used", r#"{"trustedProxies":"10.0.0.0/8"}"#, r#"{"admin":{"ip":{"block":"203.0.113.0/24"}}}"#, A, "10.0.0.1", "203.0.113.9", "alice", "deny:ip"),
        ("the chain is read right to left past trusted hops", r#"{"trustedProxies":"10.0.0.0/8"}"#, r#"{"admin":{"ip":{"allow":"203.0.113.0/24"}}}"#, A, "10.0.0.1", "192.0.2.1, 203.0.113.9, 10.0.0.2", "alice", "forward"),
        ("an address left of the first untrusted hop is not believed", r#"{"trustedProxies":"10.0.0.0/8"}"#, r#"{"admin":{"ip":{"bypass":"192.0.2.1"}}}"#, A, "10.0.0.1", "192.0.2.1, 203.0.113.9", "", "login"),
        ("an unreadable hop makes the client unknown and refused", r#"{"trustedProxies":"10.0.0.0/8"}"#, r#"{"admin":{"ip":{"allow":"203.0.113.0/24"}}}"#, A, "10.0.0.1", "203.0.113.9, bogus", "alice", "deny:ip"),
        ("trusted IPv6 proxy", r#"{"trustedProxies":"fd00::/8"}"#, r#"{"admin":{"ip":{"bypass":"2001:db8::9"}}}"#, A, "fd00::1", "2001:db8::9", "", "anon"),
    ];
    assert!(cases.len() >= 60, "the matrix has {} cases", cases.len());
    let mut failures = Vec::new();
    for (name, auth, apps, url, peer, xff, who, want) in cases {
        let got = outcome(auth, apps, url, peer, xff, who);
        if got != *want {
            failures.push(format!("{name}: want {want}, got {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn app_headers_and_basic_auth_reach_the_upstream_and_replace_client_copies() {
    let config = config(
        "",
        r#"{"admin":{"response":{"headers":["X-Tenant=acme","X-Note=a,b"],"basicauth":{"username":"svc","password":"p@ss"}},"path":{"allow":"^/public"}}}"#,
    );
    for (path, who, identity) in [("/", "alice", true), ("/public", "", false)] {
        let mut headers = vec![
            (":method".to_owned(), "GET".to_owned()),
            (":authority".to_owned(), "admin.example.com".to_owned()),
            (":path".to_owned(), path.to_owned()),
            ("authorization".to_owned(), "Bearer client".to_owned()),
            ("remote-user".to_owned(), "spoof".to_owned()),
        ];
        if !who.is_empty() {
            let session = Session {
                login: "l".into(),
                identity: user(who),
                created_at: NOW,
                expires_at: NOW + 3600,
                checked_at: NOW,
                refresh: None,
            };
            headers.push((
                "cookie".to_owned(),
                format!(
                    "{}={}",
                    config.site.cookies.session_name,
                    session.seal(&config.keys.session[0])
                ),
            ));
        }
        let view = RequestView::from_headers(&headers);
        let decision = flow::on_request(
            &config,
            &config.runtime,
            &view,
            NOW,
            &mut common::Counter::default(),
        );
        let Action::Forward(forward) = decision.action else {
            panic!("forwarded")
        };
        let get = |name: &str| {
            forward
                .set
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x-tenant"), Some("acme"), "{path}");
        assert_eq!(
            get("x-note"),
            Some("a,b"),
            "{path}: array items keep their commas"
        );
        assert_eq!(get("authorization"), Some("Basic c3ZjOnBAc3M="), "{path}");
        assert_eq!(get("remote-user").is_some(), identity, "{path}");
        // The spoofed copy is either replaced by the real identity or removed.
        assert_eq!(
            forward.remove.contains(&"remote-user".to_owned()),
            !identity,
            "{path}: spoofed header removed unless it is replaced"
        );
    }
}

#[test]
fn bad_rules_refuse_the_configuration_naming_app_and_field() {
    #[rustfmt::skip]
    let cases = [
        (r#"{"admin":{"ip":{"allow":"10.0.0.0/33"}}}"#, "apps.admin.ip.allow"),
        (r#"{"admin":{"ip":{"block":"not-an-ip"}}}"#, "apps.admin.ip.block"),
        (r#"{"admin":{"ip":{"bypass":"1.2.3"}}}"#, "apps.admin.ip.bypass"),
        (r#"{"admin":{"path":{"allow":"(unclosed"}}}"#, "apps.admin.path.allow"),
        (r#"{"admin":{"path":{"block":"[z-a]"}}}"#, "apps.admin.path.block"),
        (r#"{"admin":{"users":{"allow":"/(/"}}}"#, "apps.admin.users.allow"),
        (r#"{"admin":{"users":{"block":"/[/"}}}"#, "apps.admin.users.block"),
        (r#"{"admin":{"response":{"headers":"NoEquals"}}}"#, "apps.admin.response.headers"),
        (r#"{"admin":{"response":{"headers":"Bad Name=x"}}}"#, "apps.admin.response.headers"),
        (r#"{"admin":{"response":{"headers":"Remote-User=admin"}}}"#, "apps.admin.response.headers"),
        (r#"{"admin":{"response":{"basicauth":{"username":"svc"}}}}"#, "apps.admin.response.basicauth.password"),
        (r#"{"admin":{"response":{"basicauth":{"password":"x"}}}}"#, "apps.admin.response.basicauth.username"),
        (r#"{"a":{"config":{"domain":"x.example.com"}},"b":{"config":{"domain":"X.example.com"}}}"#, "apps.b.config.domain"),
    ];
    for (apps, field) in cases {
        let value = json!({
            "appUrl": "https://auth.example.com", "secret": SECRET,
            "oauth": {"providers": {"generic": {"clientId": "c", "clientSecret": "s",
                "authUrl": "https://id.example.com/a", "tokenUrl": "https://id.example.com/t", "userInfoUrl": "https://id.example.com/u"}}},
            "apps": serde_json::from_str::<Value>(apps).unwrap()
        });
        let err =
            tinyauth_wasm::config::Config::from_json(value.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.field, field, "{apps}: {err}");
    }
    for (auth, field) in [
        (r#"{"trustedProxies":"10.0.0.0/99"}"#, "auth.trustedProxies"),
        (r#"{"ip":{"block":"x"}}"#, "auth.ip.block"),
        (r#"{"acls":{"policy":"maybe"}}"#, "auth.acls.policy"),
    ] {
        let value = json!({
            "appUrl": "https://auth.example.com", "secret": SECRET,
            "auth": serde_json::from_str::<Value>(auth).unwrap(),
            "oauth": {"providers": {"generic": {"clientId": "c", "clientSecret": "s",
                "authUrl": "https://id.example.com/a", "tokenUrl": "https://id.example.com/t", "userInfoUrl": "https://id.example.com/u"}}}
        });
        let err =
            tinyauth_wasm::config::Config::from_json(value.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.field, field, "{auth}: {err}");
    }
}
