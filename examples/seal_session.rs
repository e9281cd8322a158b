//! Prints a session cookie (`name=value`) that the filter configured with a
//! given configuration accepts at a given time: alice, in the groups `admins`
//! and `developers`, signed in a minute before. The proxy-wasm host in
//! `envoy-demo/bench/abi-host.mjs` uses it to drive the shipped module's
//! authenticated path without a login.
//!
//! ```text
//! cargo run --example seal_session -- CONFIG.json NOW_SECONDS
//! ```

// A command-line tool: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

#[path = "common/alice.rs"]
mod alice;

use tinyauth_wasm::config::Config;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(now)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: seal_session CONFIG.json NOW_SECONDS");
        return ExitCode::from(2);
    };
    let config = match std::fs::read(path)
        .map_err(|err| err.to_string())
        .and_then(|json| Config::from_json(&json).map_err(|err| err.to_string()))
    {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{path}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let Some(key) = config.keys.session.first() else {
        eprintln!("{path}: no session key");
        return ExitCode::FAILURE;
    };
    let session = alice::alice_session(&config, now);
    println!("{}={}", config.site.cookies.session_name, session.seal(key));
    ExitCode::SUCCESS
}
