//! Tinyauth's rule values, compiled once: a [`Pattern`] is a regular
//! expression (the `regex` crate, RE2 syntax like Tinyauth's Go `regexp`), and
//! a [`Filter`] is a comma list of exact values or one `/regex/`.
//!
//! A regex is an unanchored search, as Go's `MatchString`: `/admins/` also
//! matches `superadmins`; write `/^admins$/` for a whole value. Regexes are
//! matched on the value's bytes without Unicode tables: `\w`, `\d`, `\s`, `\b`
//! and `(?i)` are ASCII-only and `.` matches one byte. Size and nesting are
//! bounded, so a hostile configuration cannot exhaust the VM's memory.
//!
//! Differences from Tinyauth, on purpose: email filters compare without regard
//! to ASCII case.

use std::fmt;

use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::hir::Look;
use regex_syntax::ParserBuilder;

/// Largest compiled program, in bytes (`a{1000}` fits, `a{10000}` does not;
/// real rules are a few hundred bytes).
const SIZE_LIMIT: usize = 256 * 1024;
/// Deepest nesting of groups and classes.
const NEST_LIMIT: u32 = 50;

/// A compiled regular expression of a rule.
#[derive(Debug, Clone)]
pub struct Pattern {
    regex: Regex,
    /// Matches only whole values: anchored at the start and the end.
    whole: bool,
}

/// A regex that does not compile, in one line with the offset in the
/// operator's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Pattern {
    pub fn new(pattern: &str, case_insensitive: bool) -> Result<Self, PatternError> {
        // Parsed first with the crate's own parser: its errors are structured
        // (the crate's are a multi-line diagram), and its syntax tree says
        // whether every match is anchored.
        let hir = ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .case_insensitive(case_insensitive)
            .nest_limit(NEST_LIMIT)
            .build()
            .parse(pattern)
            .map_err(|err| PatternError(syntax_error(&err)))?;
        let properties = hir.properties();
        let whole = properties.look_set_prefix().contains(Look::Start)
            && properties.look_set_suffix().contains(Look::End);
        let regex = RegexBuilder::new(pattern)
            .unicode(false)
            .case_insensitive(case_insensitive)
            .nest_limit(NEST_LIMIT)
            .size_limit(SIZE_LIMIT)
            .build()
            .map_err(|err| PatternError(err.to_string().replace('\n', " ")))?;
        Ok(Self { regex, whole })
    }

    /// Whether the regex matches anywhere in `value`.
    pub fn is_match(&self, value: &str) -> bool {
        self.regex.is_match(value.as_bytes())
    }

    /// Whether it can only match whole values (`^…$`).
    pub fn is_whole_value(&self) -> bool {
        self.whole
    }
}

fn syntax_error(err: &regex_syntax::Error) -> String {
    match err {
        regex_syntax::Error::Parse(err) => {
            format!("{} at offset {}", err.kind(), err.span().start.offset)
        }
        regex_syntax::Error::Translate(err) => {
            format!("{} at offset {}", err.kind(), err.span().start.offset)
        }
        other => other.to_string().replace('\n', " "),
    }
}

/// How a list compares values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Sensitive,
    /// ASCII case is ignored (emails).
    Insensitive,
}

/// A compiled filter. An empty filter abstains (see [`Filter::matches`]).
#[derive(Debug, Clone, Default)]
pub enum Filter {
    #[default]
    Empty,
    List {
        items: Vec<String>,
        case: Case,
    },
    Regex {
        pattern: Pattern,
        /// The operator's text between the slashes, for the load-time warning.
        source: String,
    },
}

impl Filter {
    /// Compiles `raw`: `/…/` is a regex, anything else a comma list (items
    /// trimmed, empty items dropped). Whitespace-only input is the empty filter.
    pub fn parse(raw: &str, case: Case) -> Result<Self, PatternError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Self::Empty);
        }
        if let Some(inner) = raw
            .strip_prefix('/')
            .and_then(|rest| rest.strip_suffix('/'))
        {
            if inner.is_empty() {
                return Err(PatternError(
                    "the regex between the slashes is empty".into(),
                ));
            }
            let pattern = Pattern::new(inner, case == Case::Insensitive)
                .map_err(|err| PatternError(format!("invalid regex /{inner}/: {err}")))?;
            return Ok(Self::Regex {
                pattern,
                source: inner.to_owned(),
            });
        }
        let items: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| match case {
                Case::Sensitive => item.to_owned(),
                Case::Insensitive => item.to_ascii_lowercase(),
            })
            .collect();
        Ok(if items.is_empty() {
            Self::Empty
        } else {
            Self::List { items, case }
        })
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }

    /// `None` when the filter is empty (the rule abstains), else whether `value`
    /// matches.
    pub fn matches(&self, value: &str) -> Option<bool> {
        match self {
            Self::Empty => None,
            Self::List { items, case } => Some(items.iter().any(|item| match case {
                Case::Sensitive => item == value,
                Case::Insensitive => item.eq_ignore_ascii_case(value),
            })),
            Self::Regex { pattern, .. } => Some(pattern.is_match(value)),
        }
    }

    /// Whether any of `values` matches; `None` when the filter is empty.
    pub fn matches_any<'v>(&self, values: impl IntoIterator<Item = &'v str>) -> Option<bool> {
        if self.is_empty() {
            return None;
        }
        Some(
            values
                .into_iter()
                .any(|value| self.matches(value.trim()) == Some(true)),
        )
    }

    /// The regex, when this is one that can match part of a value (Tinyauth's
    /// semantics, which surprise people who expect whole values).
    pub fn partial_regex(&self) -> Option<&str> {
        match self {
            Self::Regex { pattern, source } if !pattern.is_whole_value() => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(raw: &str) -> Filter {
        Filter::parse(raw, Case::Sensitive).unwrap()
    }

    #[test]
    fn empty_abstains() {
        assert_eq!(filter("").matches("x"), None);
        assert_eq!(filter("  , ,").matches("x"), None);
        assert_eq!(filter("").matches_any(["a"]), None);
    }

    #[test]
    fn lists_match_exactly() {
        let f = filter("admins, users ,ops");
        assert_eq!(f.matches("users"), Some(true));
        assert_eq!(f.matches("Users"), Some(false));
        assert_eq!(f.matches("user"), Some(false));
        assert_eq!(f.matches_any(["x", "ops"]), Some(true));
        assert_eq!(f.matches_any(["x"]), Some(false));
        assert_eq!(f.matches_any([]), Some(false));
    }

    #[test]
    fn regexes_search_like_go_match_string() {
        // Tinyauth's migration case: OAUTH_WHITELIST=/@example\.com$/.
        let f = Filter::parse(r"/@example\.com$/", Case::Insensitive).unwrap();
        assert_eq!(f.matches("alice@example.com"), Some(true));
        assert_eq!(f.matches("Alice@Example.COM"), Some(true));
        assert_eq!(f.matches("eve@example.org"), Some(false));
        assert_eq!(f.matches("x@example.com.evil.net"), Some(false));
        let groups = filter("/admins/");
        assert_eq!(groups.matches("admins"), Some(true));
        assert_eq!(groups.matches("superadmins"), Some(true), "unanchored");
        let whole = filter("/^admins$/");
        assert_eq!(whole.matches("superadmins"), Some(false));
    }

    #[test]
    fn partial_regexes_are_told_apart_from_whole_value_ones() {
        assert_eq!(filter("/admins/").partial_regex(), Some("admins"));
        assert_eq!(
            filter(r"/@example\.com$/").partial_regex(),
            Some(r"@example\.com$")
        );
        assert_eq!(filter("/^adm/").partial_regex(), Some("^adm"));
        assert_eq!(filter("/^a|b$/").partial_regex(), Some("^a|b$"));
        for whole in ["/^admins$/", "/^(a|b)$/", r"/\Aa\z/", "/^a$|^b$/"] {
            assert_eq!(filter(whole).partial_regex(), None, "{whole}");
        }
        assert_eq!(filter("admins").partial_regex(), None, "lists are exact");
    }

    #[test]
    fn emails_ignore_case_in_lists() {
        let f = Filter::parse("Alice@Example.com", Case::Insensitive).unwrap();
        assert_eq!(f.matches("alice@example.COM"), Some(true));
    }

    #[test]
    fn classes_and_case_folding_are_ascii() {
        let f = Filter::parse(r"/^\w+$/", Case::Insensitive).unwrap();
        assert_eq!(f.matches("Alice_1"), Some(true));
        assert_eq!(f.matches("Zoë"), Some(false));
    }

    #[test]
    fn errors_are_one_line_with_the_offset_in_the_operators_text() {
        let err = Filter::parse(r"/ab\q/", Case::Insensitive).unwrap_err().0;
        assert_eq!(
            err,
            r"invalid regex /ab\q/: unrecognized escape sequence at offset 2"
        );
        let err = Filter::parse("/(a/", Case::Sensitive).unwrap_err().0;
        assert_eq!(err, "invalid regex /(a/: unclosed group at offset 0");
        assert!(Filter::parse("//", Case::Sensitive).is_err());
        let err = Filter::parse(r"/\p{L}/", Case::Sensitive).unwrap_err().0;
        assert!(err.contains("Unicode not allowed"), "{err}");
    }

    #[test]
    fn hostile_patterns_are_bounded() {
        let err = Pattern::new("(a{100}){100}", false).unwrap_err().0;
        assert!(err.contains("size limit"), "{err}");
        assert!(!err.contains('\n'));
        let deep = format!("{}a{}", "(".repeat(60), ")".repeat(60));
        let err = Pattern::new(&deep, false).unwrap_err().0;
        assert!(err.contains("nested"), "{err}");
        assert!(Pattern::new("a{1000}", false).is_ok());
        assert!(Pattern::new("a{10000}", false).is_err());
    }
}
