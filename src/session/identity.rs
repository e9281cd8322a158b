//! Who the user is: read from the provider's claims once at login (see
//! `oidc::claims`), then carried in the session and sent upstream as
//! `Remote-*` headers.

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider ID this user logged in through.
    pub provider: String,
    pub sub: String,
    pub username: String,
    /// Absent for Pocket ID users without an email address.
    pub email: Option<String>,
    pub name: String,
    pub groups: Vec<String>,
}

impl Identity {
    /// How pages name the account: the email, else the username.
    pub fn display(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.username)
    }
}

/// The text with its first letter upper-cased (`alice` → `Alice`).
pub(crate) fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    // Simple case mapping, as Go's `unicode.ToUpper`: a letter whose upper
    // case is several letters (`ß`) stays as it is.
    let mut upper = first.to_uppercase();
    let first = match (upper.next(), upper.next()) {
        (Some(single), None) => single,
        _ => first,
    };
    std::iter::once(first).chain(chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capitalise_upper_cases_only_the_first_letter() {
        assert_eq!(capitalise("alice"), "Alice");
        assert_eq!(capitalise("élodie"), "Élodie");
        assert_eq!(capitalise("ωμέγα"), "Ωμέγα");
        assert_eq!(capitalise("юлия"), "Юлия");
        assert_eq!(capitalise("ßtraße"), "ßtraße");
        assert_eq!(capitalise("李"), "李");
        assert_eq!(capitalise("9lives"), "9lives");
        assert_eq!(capitalise(""), "");
    }
}
