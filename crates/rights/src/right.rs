//! One right: an action on an entity (`crm.deal:read`), its grammar, its
//! limits and how a right matches what is asked.

use serde::{Deserialize, Serialize};

/// Longest right (`entity:action`) accepted, in characters.
pub const MAX_RIGHT_LEN: usize = 100;
/// Most explicit rights in one support-access scope.
pub const MAX_RIGHTS: usize = 32;
/// Most roles in one support-access scope.
pub const MAX_ROLES: usize = 16;
/// Longest role name in a support-access scope, in characters.
pub const MAX_ROLE_LEN: usize = 64;

/// Why a right was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RightError {
    /// Longer than [`MAX_RIGHT_LEN`].
    #[error("a right must be at most {MAX_RIGHT_LEN} characters")]
    TooLong,
    /// No `:` between entity and action.
    #[error(
        "right \"{0}\" must be written entity:action, like crm.deal:read, crm.*:read or *:read"
    )]
    NotEntityAction(String),
    /// The entity breaks the grammar.
    #[error(
        "right entity \"{0}\" is not valid: use dot-separated lowercase names like crm.deal, crm.* for everything under crm, or * for all"
    )]
    Entity(String),
    /// The action breaks the grammar.
    #[error("right action \"{0}\" is not valid: use one lowercase word like read, or * for all")]
    Action(String),
}

/// One right. The entity is `*` (every entity), dot-separated names
/// (`crm.deal`) or such a prefix followed by `.*` (every entity under it, not
/// the prefix itself); the action is `*` or one name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Right {
    /// e.g. `crm.deal`.
    pub entity: String,
    /// e.g. `read`.
    pub action: String,
}

/// One name: lowercase ASCII letters, digits, `_` and `-`. Nothing else, so
/// case variants, Unicode lookalikes and whitespace can never spell a name.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

/// Is `entity` a concrete entity name: dot-separated names (`crm.deal`)?
pub fn valid_entity(entity: &str) -> bool {
    entity.split('.').all(valid_name)
}

/// Is `action` a concrete action name (`read`)?
pub fn valid_action(action: &str) -> bool {
    valid_name(action)
}

/// Is `entity` strictly under `prefix` (`crm.deal` under `crm`)?
pub(crate) fn is_under(entity: &str, prefix: &str) -> bool {
    entity
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// Does the entity pattern of a right match the concrete `entity`?
pub fn entity_matches(pattern: &str, entity: &str) -> bool {
    pattern == "*"
        || pattern == entity
        || pattern
            .strip_suffix(".*")
            .is_some_and(|prefix| is_under(entity, prefix))
}

/// A short, bounded echo of rejected input for an error message.
fn echo(s: &str) -> String {
    s.chars().take(MAX_RIGHT_LEN).collect()
}

impl Right {
    /// Validates a right given as its two parts (surrounding whitespace is
    /// dropped), wildcards allowed.
    pub fn new(entity: &str, action: &str) -> Result<Self, RightError> {
        let (entity, action) = (entity.trim(), action.trim());
        if entity.chars().count() + 1 + action.chars().count() > MAX_RIGHT_LEN {
            return Err(RightError::TooLong);
        }
        let entity_ok = entity == "*"
            || valid_entity(entity)
            || entity.strip_suffix(".*").is_some_and(valid_entity);
        if !entity_ok {
            return Err(RightError::Entity(echo(entity)));
        }
        if !(action == "*" || valid_action(action)) {
            return Err(RightError::Action(echo(action)));
        }
        Ok(Self {
            entity: entity.to_string(),
            action: action.to_string(),
        })
    }

    /// Parses `entity:action`.
    pub fn parse(text: &str) -> Result<Self, RightError> {
        if text.chars().count() > MAX_RIGHT_LEN {
            return Err(RightError::TooLong);
        }
        let (entity, action) = text
            .trim()
            .split_once(':')
            .ok_or_else(|| RightError::NotEntityAction(echo(text)))?;
        Self::new(entity, action)
    }

    /// Does this right allow `action` on the concrete `entity`?
    pub fn covers(&self, entity: &str, action: &str) -> bool {
        entity_matches(&self.entity, entity) && (self.action == "*" || self.action == action)
    }

    /// Does this right cover all of `other` (every entity/action `other`
    /// matches)?
    pub fn covers_right(&self, other: &Right) -> bool {
        let entity_ok = match (self.entity.as_str(), other.entity.as_str()) {
            ("*", _) => true,
            (_, "*") => false,
            (mine, theirs) => match theirs.strip_suffix(".*") {
                // `theirs` is a prefix pattern: only an equal or shorter
                // prefix pattern covers every entity under it.
                Some(their_prefix) => mine.strip_suffix(".*").is_some_and(|my_prefix| {
                    their_prefix == my_prefix || is_under(their_prefix, my_prefix)
                }),
                None => entity_matches(mine, theirs),
            },
        };
        entity_ok && (self.action == "*" || self.action == other.action)
    }

    /// Do this right and `other` both match some entity/action? (A pattern
    /// read as an entity name, `crm.deal.*`, lies under the prefixes that
    /// cover it, so `entity_matches` answers for patterns too.)
    pub fn overlaps(&self, other: &Right) -> bool {
        let actions = self.action == "*" || other.action == "*" || self.action == other.action;
        let (a, b) = (&self.entity, &other.entity);
        actions && (entity_matches(a, b) || entity_matches(b, a))
    }
}

impl std::fmt::Display for Right {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.entity, self.action)
    }
}

/// Stores rights as one right per line.
pub fn encode(rights: &[Right]) -> String {
    rights
        .iter()
        .map(Right::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads stored rights, skipping anything unreadable (rows written before a
/// rule tightened must not make a whole role unreadable).
pub fn decode(text: &str) -> Vec<Right> {
    text.lines().filter_map(|l| Right::parse(l).ok()).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn r(text: &str) -> Right {
        Right::parse(text).unwrap()
    }

    #[test]
    fn grammar() {
        for ok in [
            "crm.deal:read",
            "openchannel.settings:edit",
            "*:*",
            "crm.*:read",
            "crm.deal-2:change_all",
            " crm.deal : read ",
        ] {
            assert!(Right::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "crm.deal",
            "CRM.deal:read",
            "Crm.Deal:read",
            "crm..deal:read",
            "crm.deal:",
            "crm.deal:re ad",
            ":read",
            "crm*:read",
            ".crm:read",
            "crm.:read",
            "crm.de\u{0430}l:read",
            "crm.deal:READ",
            "crm.*.deal:read",
        ] {
            assert!(Right::parse(bad).is_err(), "{bad}");
        }
        assert!(valid_entity("crm.deal") && !valid_entity("*") && !valid_entity("crm.*"));
        assert!(valid_action("read") && !valid_action("*"));
    }

    #[test]
    fn length_limit() {
        let at_limit = format!("{}:read", "a".repeat(MAX_RIGHT_LEN - 5));
        assert!(Right::parse(&at_limit).is_ok());
        let long = format!("{}:read", "a".repeat(MAX_RIGHT_LEN));
        assert_eq!(Right::parse(&long), Err(RightError::TooLong));
        assert_eq!(
            Right::new(&"a".repeat(MAX_RIGHT_LEN), "read"),
            Err(RightError::TooLong)
        );
    }

    #[test]
    fn matching() {
        assert!(r("*:*").covers("anything.at.all", "do"));
        let read = r("*:read");
        assert!(read.covers("crm.deal", "read") && !read.covers("crm.deal", "change"));
        let crm = r("crm.*:change");
        assert!(crm.covers("crm.deal", "change") && crm.covers("crm.deal.stage", "change"));
        assert!(!crm.covers("crmx.deal", "change") && !crm.covers("crm", "change"));
        let exact = r("crm.deal:read");
        assert!(exact.covers("crm.deal", "read"));
        assert!(!exact.covers("crm.deal", "change") && !exact.covers("crm.lead", "read"));
        assert!(!exact.covers("crm.deal.stage", "read"));
    }

    #[test]
    fn covering_and_overlapping_rights() {
        assert!(r("crm.*:*").covers_right(&r("crm.deal.*:read")));
        assert!(r("crm.*:*").covers_right(&r("crm.deal:read")));
        assert!(!r("crm.deal:read").covers_right(&r("crm.deal.*:read")));
        assert!(!r("crm.*:read").covers_right(&r("*:read")));
        assert!(r("*:read").covers_right(&r("crm.*:read")));
        assert!(r("crm.*:read").overlaps(&r("crm.deal:*")));
        assert!(r("crm.deal.*:read").overlaps(&r("crm.*:read")));
        assert!(!r("crm.*:read").overlaps(&r("hr.*:read")));
        assert!(!r("crm.deal:read").overlaps(&r("crm.deal:change")));
    }

    #[test]
    fn encode_round_trips() {
        let rights = vec![r("crm.deal:read"), r("*:read")];
        assert_eq!(decode(&encode(&rights)), rights);
        assert_eq!(
            decode("crm.deal:read\nNOT A RIGHT"),
            vec![r("crm.deal:read")]
        );
    }
}
