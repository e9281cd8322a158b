//! The request path as the access rules read it: every way an upstream may
//! resolve it, so that `/public/../admin`, `/public/%2e%2e/admin`,
//! `/public/..;/admin`, `/public\..\admin`, `/public/%252e%252e/admin` and
//! `//admin` cannot slip past a path rule while the upstream serves `/admin`.
//!
//! Upstreams differ: some keep `%2F` as data and some decode it, some decode
//! twice, Tomcat and Spring drop `;` parameters from segments, Windows servers
//! read `\` as `/`, and servers that parse the URL as browsers do (the WHATWG
//! URL standard: `new URL()` in Node, Deno and Bun) read `\` as `/` and `%2e`
//! as a dot in dot segments while decoding nothing else. A path with none of
//! `%`, `\`, `;`, `//` or a dot segment reads the same everywhere and costs
//! nothing here. Any other path is read
//! every way an upstream may resolve it (see [`readings`]) and a rule must
//! hold for every reading. A path that cannot be read for sure
//! (an escape that does not decode to UTF-8, a NUL) has no readings: no rule
//! can make it public.

use std::borrow::Cow;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// What the WHATWG parser would not keep as path data, escaped before it
/// sees the path: `?` and `#` would start a query or fragment (the query was
/// split off before, so here they are data), and it drops tabs and newlines
/// and strips controls and spaces at the ends, which Envoy never forwards in
/// a path anyway. With them escaped, that reading differs from the others
/// only where the parser resolves the path differently.
const AS_DATA: &AsciiSet = &CONTROLS.add(b' ').add(b'?').add(b'#');

/// How many rounds of percent-decoding are undone (`%25252e` is three); a
/// path still encoded after that is not read for sure.
const MAX_DECODING_ROUNDS: usize = 4;

/// The readings of `path` (without its query), each starting with `/`;
/// `None` when the path cannot be read for sure.
///
/// A reading is one way an upstream may resolve the path: the path as sent or
/// after any number of decoding rounds (Tomcat also drops `;` parameters from
/// the raw segments before it decodes); then with `\` read as `/` or not, `;`
/// parameters dropped or not; then dot segments resolved after repeated
/// slashes are merged (Go's `path.Clean`, Envoy's `merge_slashes`) or before
/// (RFC 3986 §5.2.4, where `..` in `/a//../` only removes the empty segment,
/// giving `/a/`). A trailing slash stays, as every server keeps it
/// (`/admin/.` is `/admin/`). Last, the path as the WHATWG URL standard
/// resolves it, by the `url` crate, with repeated slashes merged as in the
/// other readings.
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
    let mut texts = decodings(path)?;
    texts.extend(decodings(&without_parameters(path))?);
    let whatwg = merged(&whatwg(path)?);
    let resolutions = texts
        .iter()
        .flat_map(|text| {
            let slashed = text.replace('\\', "/");
            [
                text.clone(),
                without_parameters(text),
                without_parameters(&slashed),
                slashed,
            ]
        })
        .flat_map(|variant| [merged(&variant), resolved(&variant)]);
    let mut readings: Vec<Cow<'_, str>> = Vec::new();
    for reading in resolutions.chain([whatwg]) {
        if !readings.iter().any(|known| *known == reading) {
            readings.push(Cow::Owned(reading));
        }
    }
    Some(readings)
}

/// `path` as the WHATWG URL standard resolves it (the `url` crate): `\` is
/// `/`, and `.%2e`, `%2e.` and `%2e%2e` are `..` while nothing else is
/// decoded, so `/.%2e/.%2e\admin/.%2e%2F` is `/admin/.%2e%2F`, a reading no
/// decoding round gives (fuzz finding 13). Behind a fixed origin, so nothing
/// in the path can become a host.
fn whatwg(path: &str) -> Option<String> {
    let relative = path.strip_prefix('/').unwrap_or(path);
    let relative = utf8_percent_encode(relative, AS_DATA);
    let url = url::Url::parse(&format!("http://path.invalid/{relative}")).ok()?;
    let resolved = url.path();
    if path.contains('%') {
        return Some(resolved.to_owned());
    }
    // The parser percent-encodes what a URL cannot carry as it is (spaces,
    // non-ASCII). In a path sent without escapes every escape is the
    // parser's own, so it is undone: `/café/./x` reads as `/café/x`, as the
    // other readings have it, not as `/caf%C3%A9/x`.
    percent_decode_str(resolved)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}

/// `text` as sent and after each round of percent-decoding, until nothing
/// changes. `None` when a round does not give UTF-8 without NUL, or the text
/// still decodes after the last round.
fn decodings(text: &str) -> Option<Vec<String>> {
    let mut texts = vec![text.to_owned()];
    for _ in 0..=MAX_DECODING_ROUNDS {
        let Some(last) = texts.last() else {
            break;
        };
        if !last.contains('%') {
            return Some(texts);
        }
        let decoded = percent_decode_str(last).decode_utf8().ok()?;
        if decoded.contains('\0') {
            return None;
        }
        if decoded == last.as_str() {
            return Some(texts);
        }
        let decoded = decoded.into_owned();
        texts.push(decoded);
    }
    None
}

/// Each segment without its `;` parameters (`..;x` is `..`), as Tomcat and
/// Spring read them.
fn without_parameters(text: &str) -> String {
    text.split('/')
        .map(|segment| segment.split(';').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("/")
}

/// Dot segments resolved and empty segments dropped, like Go's `path.Clean`
/// (Tinyauth) and Envoy's `merge_slashes`; a trailing slash stays.
fn merged(text: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for segment in text.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    join(&kept, ends_as_directory(text))
}

/// Dot segments resolved as RFC 3986 §5.2.4 and WHATWG URLs do, with empty
/// segments kept, so `..` after `//` only removes the empty one; then
/// repeated slashes merged, as in the other reading.
fn resolved(text: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut segments = text.split('/');
    // The empty segment before the leading slash.
    if text.starts_with('/') {
        segments.next();
    }
    for segment in segments {
        match segment {
            "." => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    let directory = ends_as_directory(text);
    kept.retain(|segment| !segment.is_empty());
    join(&kept, directory)
}

/// Whether the path names a directory: it ends with `/`, `/.` or `/..`.
fn ends_as_directory(text: &str) -> bool {
    text.ends_with('/') || text.ends_with("/.") || text.ends_with("/..")
}

fn join(segments: &[&str], directory: bool) -> String {
    let mut out = String::new();
    for segment in segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || directory {
        out.push('/');
    }
    out
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
    fn dot_segments_and_slashes_are_resolved_both_ways() {
        assert_eq!(read("/public/../admin"), ["/admin"]);
        assert_eq!(read("//admin"), ["/admin"]);
        // `..` after an empty segment: path.Clean and RFC 3986 differ.
        assert_eq!(read("/a//../"), ["/", "/a/"]);
        // A directory stays one.
        assert_eq!(read("/./a/./b/"), ["/a/b/"]);
        assert_eq!(read("/admin/."), ["/admin/"]);
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
        // As the WHATWG URL standard reads it: `\` is `/`, `.%2e` is `..`,
        // and `%2F` stays data (no decoding round gives that).
        let whatwg = read("/.%2e/.%2e\\admin/.%2e%2F");
        assert!(whatwg.contains(&"/admin/.%2e%2F".to_owned()), "{whatwg:?}");
        // What that parser would not keep as path data stays data.
        assert_eq!(read("/a/.\t\u{1} "), ["/a/.\t\u{1} "]);
        // Its own escapes (of what a URL cannot carry) are not a reading.
        assert_eq!(read("/café/./x y"), ["/café/x y"]);
        assert_eq!(read("/a#b/./c?d"), ["/a#b/c?d"]);
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
