//! `http::path::readings`, the path as the access rules read it.
//!
//! Properties, beyond "never panics":
//! - a path with none of `%`, `\`, `;`, NUL, `//` or a dot segment is read
//!   as itself, once;
//! - every reading starts with `/`, has no empty (but a trailing slash), `.`
//!   or `..` segment and no NUL, and there are at most three;
//! - a path that is read for sure cannot escape a prefix unseen: when every
//!   reading is under `/public/` (or none starts with `/wp-admin`, in any
//!   case), so is every way an upstream may resolve it — decoded up to eight
//!   times, `\` as `/`, `;` parameters dropped before or after decoding, dot
//!   segments resolved as `path.Clean` or RFC 3986 (`upstream_views`, an
//!   oracle written apart from the filter);
//! - readings are a function of the path (same answer twice).

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tinyauth_wasm::http::path::readings;
use tinyauth_wasm_fuzz::{build_path, under_blocked, under_public, upstream_views, PathPiece};

#[derive(Debug, Arbitrary)]
enum Input {
    Pieces(Vec<PathPiece>),
    Raw(String),
}

fuzz_target!(|data: &[u8]| {
    // First byte odd: the rest is the path (the seed corpus's form); even:
    // the rest picks pieces (`arbitrary`).
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let path = if mode & 1 == 1 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        match Input::arbitrary_take_rest(Unstructured::new(rest)) {
            Ok(Input::Pieces(pieces)) => build_path(&pieces),
            Ok(Input::Raw(raw)) => raw,
            Err(_) => return,
        }
    };
    let Some(read) = readings(&path) else {
        // Not read for sure: never public. Only these make it so.
        assert!(
            path.contains('%') || path.contains('\0'),
            "{path:?} has no readings"
        );
        return;
    };
    assert_eq!(Some(&read), readings(&path).as_ref());
    // At most 2 × 6 texts (with and without Tomcat's raw parameter drop,
    // each after 0–5 decoding rounds) × 4 variants × 2 dot resolutions.
    assert!(!read.is_empty() && read.len() <= 96, "{path:?}: {read:?}");
    let plain = path.starts_with('/')
        && !path.contains(['%', '\\', ';', '\0'])
        && !path.contains("//")
        && !path
            .split('/')
            .any(|segment| segment == "." || segment == "..");
    if plain {
        assert_eq!(read, [path.as_str()], "a plain path is its own reading");
    }
    for reading in &read {
        assert!(reading.starts_with('/'), "{path:?}: {reading:?}");
        assert!(!reading.contains('\0'), "{path:?}: {reading:?}");
        // A trailing slash is kept (`/docs/` and `/docs` differ upstream).
        let body = reading.strip_suffix('/').unwrap_or(reading);
        if !body.is_empty() {
            for segment in body.split('/').skip(1) {
                assert!(
                    !matches!(segment, "" | "." | ".."),
                    "{path:?}: reading {reading:?} has segment {segment:?}"
                );
            }
        }
    }
    let views = upstream_views(&path);
    if read.iter().all(|r| r.starts_with("/public/")) {
        for view in &views {
            assert!(
                under_public(view),
                "{path:?} reads as {read:?} (all public) but an upstream may serve {view:?}"
            );
        }
    }
    if read.iter().all(|r| {
        !r.get(..9)
            .is_some_and(|head| head.eq_ignore_ascii_case("/wp-admin"))
    }) {
        for view in &views {
            assert!(
                !under_blocked(view),
                "{path:?} reads as {read:?} (none blocked) but an upstream may serve {view:?}"
            );
        }
    }
});
