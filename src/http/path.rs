//! The request path as access rules see it: percent-decoded and cleaned, so
//! `/public/../admin`, `/public/%2e%2e/admin` and `//admin` cannot slip past a
//! path rule while the upstream resolves them to `/admin`.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// Decodes percent-escapes (not `+`), then resolves `.` and `..` segments and
/// collapses repeated slashes, like Go's `path.Clean` (which Tinyauth uses).
/// The result always starts with `/`.
pub fn normalize(path: &str) -> Cow<'_, str> {
    let needs_work = path.is_empty()
        || !path.starts_with('/')
        || path.contains('%')
        || path.contains("//")
        || path.contains("/.")
        || (path.len() > 1 && path.ends_with('/'));
    if !needs_work {
        return Cow::Borrowed(path);
    }
    let decoded = if path.contains('%') {
        percent_decode_str(path)
            .decode_utf8()
            .map_or_else(|_| path.to_owned(), Cow::into_owned)
    } else {
        path.to_owned()
    };
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_like_path_clean() {
        let cases = [
            ("/", "/"),
            ("", "/"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b"),
            ("/public/../admin", "/admin"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/%2E%2E/admin", "/admin"),
            ("/public%2F..%2Fadmin", "/admin"),
            ("//admin", "/admin"),
            ("/./a/./b", "/a/b"),
            ("/../../etc", "/etc"),
            ("/a+b", "/a+b"),
            ("/a%20b", "/a b"),
            ("relative/x", "/relative/x"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "{input}");
        }
    }

    #[test]
    fn plain_paths_are_not_copied() {
        assert!(matches!(normalize("/api/items/42"), Cow::Borrowed(_)));
    }
}
