//! A string that must never reach a log.
//!
//! Built on `secrecy`'s `SecretString` (zeroed when dropped, redacted in
//! `Debug`). The wrapper adds what configuration needs and `secrecy`
//! deliberately leaves out: it serializes in clear (figment merges layers
//! by serializing the defaults) and compares by value.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A secret value (password, database URL with credentials, SMTP URL). Its
/// `Debug` and `Display` print a placeholder, so a stray `{:?}` cannot leak
/// it, and the copy it holds is zeroed when dropped (copies made before it
/// was wrapped, by a parser or a `String`'s growth, are not).
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The value itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        SecretString::deserialize(d).map(Self)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2-password");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "hunter2-password");
    }

    #[test]
    fn serializes_in_clear_for_layered_configuration() {
        let s = Secret::new("p@ss");
        let json = serde_json::to_string(&s).unwrap_or_default();
        assert_eq!(json, "\"p@ss\"");
        let back: Result<Secret, _> = serde_json::from_str(&json);
        assert!(back.is_ok_and(|b| b == s));
    }
}
