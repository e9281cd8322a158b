//! Tinyauth's value filters: a comma list of exact values, or one `/regex/`.
//!
//! Differences from Tinyauth, on purpose: a regex must match the **whole** value
//! (it is compiled as `^(?:…)$`), so `/.*@example\.com/` cannot match
//! `x@example.com.evil.net`; write `/.*@example\.com.*/` if a prefix match is really
//! wanted. Email filters compare without regard to ASCII case.

use std::fmt;

use crate::regex::Regex;

/// How values are compared.
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
    Regex(Regex),
}

/// A filter that failed to compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Filter {
    /// Compiles `raw`: `/…/` is a regex, anything else a comma list (items trimmed,
    /// empty items dropped). Whitespace-only input is the empty filter.
    pub fn parse(raw: &str, case: Case) -> Result<Self, FilterError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Self::Empty);
        }
        if let Some(inner) = raw
            .strip_prefix('/')
            .and_then(|rest| rest.strip_suffix('/'))
        {
            if inner.is_empty() {
                return Err(FilterError("the regex between the slashes is empty".into()));
            }
            let invalid = |err| FilterError(format!("invalid regex /{inner}/: {err}"));
            // Compiled alone first, so that an error's offset is in the
            // operator's text, and so that a pattern like `a)|(?:b` cannot close
            // the wrapping group and escape the anchors.
            Regex::new(inner).map_err(invalid)?;
            let flags = match case {
                Case::Sensitive => "",
                Case::Insensitive => "(?i)",
            };
            return Regex::new(&format!("{flags}^(?:{inner})$"))
                .map(Self::Regex)
                .map_err(invalid);
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
            Self::Regex(regex) => Some(regex.is_match(value)),
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
    fn regexes_are_anchored() {
        let f = Filter::parse(r"/.*@example\.com/", Case::Insensitive).unwrap();
        assert_eq!(f.matches("alice@example.com"), Some(true));
        assert_eq!(f.matches("Alice@Example.COM"), Some(true));
        assert_eq!(f.matches("x@example.com.evil.net"), Some(false));
        assert_eq!(f.matches("evil.net?x@example.com"), Some(true));
        let opt_in = Filter::parse(r"/.*@example\.com.*/", Case::Insensitive).unwrap();
        assert_eq!(opt_in.matches("x@example.com.evil.net"), Some(true));
    }

    #[test]
    fn alternation_is_anchored_as_a_whole() {
        let f = filter("/admins|ops/");
        assert_eq!(f.matches("admins"), Some(true));
        assert_eq!(f.matches("ops"), Some(true));
        assert_eq!(f.matches("xadmins"), Some(false));
        assert_eq!(f.matches("opsx"), Some(false));
    }

    #[test]
    fn emails_ignore_case_in_lists() {
        let f = Filter::parse("Alice@Example.com", Case::Insensitive).unwrap();
        assert_eq!(f.matches("alice@example.COM"), Some(true));
    }

    #[test]
    fn bad_regexes_are_reported() {
        assert!(Filter::parse("/(unclosed/", Case::Sensitive)
            .unwrap_err()
            .0
            .contains("invalid regex"));
        assert!(Filter::parse("//", Case::Sensitive).is_err());
    }

    #[test]
    fn regex_errors_point_into_the_operators_text() {
        let err = Filter::parse(r"/ab\q/", Case::Insensitive).unwrap_err().0;
        assert_eq!(err, r"invalid regex /ab\q/: unknown escape at offset 2");
        let err = Filter::parse("/(a/", Case::Sensitive).unwrap_err().0;
        assert_eq!(err, "invalid regex /(a/: unclosed group opened at offset 0");
    }

    #[test]
    fn a_regex_cannot_close_the_anchoring_group() {
        // Wrapped as `^(?:a)|(?:b)$`, this would match anything starting with
        // `a`; it is refused instead.
        let err = Filter::parse("/a)|(?:b/", Case::Sensitive).unwrap_err().0;
        assert!(err.contains("without a matching"), "{err}");
    }
}
