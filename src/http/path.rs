//! The request path as the access rules read it: every way an upstream may
//! resolve it, so that `/public/../admin`, `/public/%2e%2e/admin`,
//! `/public/..;/admin`, `/public\..\admin`, `/public/%252e%252e/admin` and
//! `//admin` cannot slip past a path rule while the upstream serves `/admin`.
//!
//! Upstreams differ: some keep `%2F` as data and some decode it, some decode
//! twice, Tomcat and Spring drop `;` parameters from segments, Windows servers
//! read `\` as `/`. A path with none of `%`, `\`, `;`, `//` or a dot segment
//! reads the same everywhere and costs nothing here. Any other path is read
//! three ways (as sent, decoded once, and as leniently as any server reads it)
//! and a rule must hold for every reading. A path that cannot be read for sure
//! (an escape that does not decode to UTF-8, a NUL) has no readings: no rule
//! can make it public.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// How many rounds of percent-decoding the lenient reading undoes (`%25252e`
/// is three); a path still encoded after that is not read for sure.
const MAX_DECODING_ROUNDS: usize = 4;

/// The readings of `path` (without its query), each starting with `/` and
/// free of dot segments and repeated slashes; `None` when the path cannot be
/// read for sure.
pub fn readings(path: &str) -> Option<Vec<Cow<'_, str>>> {
    let plain = !path.is_empty()
        && path.starts_with('/')
        && !path.contains(['%', '\\', ';', '\0'])
        && !path.contains("//")
        && !path.contains("/.");
    if plain {
        return Some(vec![Cow::Borrowed(path)]);
    }
    if path.contains('\0') {
        return None;
    }
    let decoded = decode(path)?;
    let mut readings = vec![
        Cow::Owned(clean(path.split('/'))),
        Cow::Owned(clean(decoded.split('/'))),
        Cow::Owned(lenient(&decoded)?),
    ];
    readings.dedup();
    Some(readings)
}

/// One round of percent-decoding, which must give UTF-8 without NUL.
fn decode(text: &str) -> Option<String> {
    let decoded = percent_decode_str(text).decode_utf8().ok()?;
    (!decoded.contains('\0')).then(|| decoded.into_owned())
}

/// The most lenient reading: decoded until nothing changes, `\` as `/`, and
/// `;` parameters dropped from each segment (`..;x` is `..`).
fn lenient(once: &str) -> Option<String> {
    let mut text = once.to_owned();
    for _ in 0..MAX_DECODING_ROUNDS {
        if !text.contains('%') {
            break;
        }
        let next = decode(&text)?;
        if next == text {
            break;
        }
        text = next;
    }
    if text.contains('%') && decode(&text).is_some_and(|next| next != text) {
        return None;
    }
    let slashed = text.replace('\\', "/");
    Some(clean(slashed.split('/').map(|segment| {
        segment.split(';').next().unwrap_or_default()
    })))
}

/// Resolves `.` and `..` segments and drops empty ones, like Go's
/// `path.Clean` (which Tinyauth uses). The result always starts with `/`.
fn clean<'s>(segments: impl Iterator<Item = &'s str>) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for segment in segments {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    if kept.is_empty() {
        return "/".to_owned();
    }
    kept.iter().fold(String::new(), |mut out, segment| {
        out.push('/');
        out.push_str(segment);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &str) -> Vec<String> {
        readings(path)
            .unwrap()
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    #[test]
    fn plain_paths_are_one_reading_and_not_copied() {
        let readings = readings("/api/items/42").unwrap();
        assert_eq!(readings.len(), 1);
        assert!(matches!(readings[0], Cow::Borrowed(_)));
        assert_eq!(read("/a+b"), ["/a+b"]);
    }

    #[test]
    fn dot_segments_and_slashes_are_resolved_like_path_clean() {
        assert_eq!(read("/public/../admin"), ["/admin"]);
        assert_eq!(read("//admin"), ["/admin"]);
        assert_eq!(read("/./a/./b/"), ["/a/b"]);
        assert_eq!(read("/../../etc"), ["/etc"]);
        assert_eq!(read(""), ["/"]);
        assert_eq!(read("relative/x"), ["/relative/x"]);
    }

    #[test]
    fn every_way_an_upstream_resolves_the_path_is_a_reading() {
        // Encoded dots: decoded, they climb out of /public.
        assert!(read("/public/%2e%2e/admin").contains(&"/admin".to_owned()));
        assert!(read("/public/%2E%2E/admin").contains(&"/admin".to_owned()));
        // Encoded slashes: kept as data by some upstreams, decoded by others.
        let slashes = read("/public%2F..%2Fadmin");
        assert!(slashes.contains(&"/public%2F..%2Fadmin".to_owned()));
        assert!(slashes.contains(&"/admin".to_owned()));
        // Double encoding, Tomcat's path parameters, Windows' backslashes.
        assert!(read("/public/%252e%252e/admin").contains(&"/admin".to_owned()));
        assert!(read("/public/..;/admin").contains(&"/admin".to_owned()));
        assert!(read("/public/..;jsessionid=x/admin").contains(&"/admin".to_owned()));
        assert!(read("/public\\..\\admin").contains(&"/admin".to_owned()));
        assert!(read("/public/%5c..%5cadmin").contains(&"/admin".to_owned()));
        assert_eq!(read("/a%20b"), ["/a%20b", "/a b"]);
    }

    #[test]
    fn paths_that_cannot_be_read_for_sure_have_no_readings() {
        for path in [
            "/public/%2e%2e/admin/%ff/../secret.txt",
            "/public/%c0%ae%c0%ae/admin",
            "/public/%00/x",
            "/public/\0/x",
            "/public/%2525252525252e",
        ] {
            assert!(readings(path).is_none(), "{path}");
        }
    }
}
