//! What a grant lets an agent do: read-only, named roles, individual rights —
//! always minus the admin-only areas. Roles are resolved to rights when the
//! grant is approved and the rights are kept with the grant, so a check never
//! needs identity.

use super::DomainError;
use serde::{Deserialize, Serialize};

/// Entities support may never touch, whatever the grant says: managing admins
/// or the owner, 2FA settings, support-access settings. An entity is covered
/// when it equals one of these or starts with one followed by a dot.
pub const ADMIN_ONLY_ENTITIES: &[&str] = &[
    "admin",
    "admins",
    "owner",
    "identity.admin",
    "identity.admins",
    "identity.owner",
    "identity.2fa",
    "identity.totp",
    "security.2fa",
    "2fa",
    "totp",
    "support_access",
    "broker",
];

/// Actions that only read.
pub const READ_ACTIONS: &[&str] = &["read", "view", "list", "get"];

/// Is `entity` in an admin-only area?
pub fn is_admin_only(entity: &str) -> bool {
    let e = entity.trim().to_ascii_lowercase();
    ADMIN_ONLY_ENTITIES
        .iter()
        .any(|a| e == *a || e.strip_prefix(a).is_some_and(|rest| rest.starts_with('.')))
}

/// Longest right (`entity:action`) accepted.
pub const MAX_RIGHT_LEN: usize = 100;
/// Most explicit rights in one scope.
pub const MAX_RIGHTS: usize = 32;
/// Most roles in one scope, and the longest role name.
pub const MAX_ROLES: usize = 16;
/// See [`MAX_ROLES`].
pub const MAX_ROLE_LEN: usize = 64;

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn valid_entity(entity: &str) -> bool {
    entity.split('.').all(valid_segment)
}

/// One right: an action on an entity; `*` matches anything, `prefix.*` every
/// entity under `prefix`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Right {
    /// Entity.
    pub entity: String,
    /// Action.
    pub action: String,
}

impl Right {
    /// Parses `entity:action`: the entity is `*`, dot-separated lowercase
    /// names (`crm.deal`) or such a prefix followed by `.*`; the action is `*`
    /// or one lowercase word — the same shape identity accepts for rights.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let bad = || {
            DomainError::Invalid(format!(
                "right {:?} must be entity:action, like crm.deal:read, crm.*:read or *:read",
                s.chars().take(MAX_RIGHT_LEN).collect::<String>()
            ))
        };
        if s.chars().count() > MAX_RIGHT_LEN {
            return Err(DomainError::Invalid(format!(
                "a right must be at most {MAX_RIGHT_LEN} characters"
            )));
        }
        let (entity, action) = s.trim().split_once(':').ok_or_else(bad)?;
        let (entity, action) = (entity.trim(), action.trim());
        let entity_ok = entity == "*"
            || valid_entity(entity)
            || entity.strip_suffix(".*").is_some_and(valid_entity);
        if !entity_ok || !(action == "*" || valid_segment(action)) {
            return Err(bad());
        }
        Ok(Self {
            entity: entity.to_string(),
            action: action.to_string(),
        })
    }

    /// `entity:action`.
    pub fn text(&self) -> String {
        format!("{}:{}", self.entity, self.action)
    }

    /// Does this right cover `entity`/`action`? An entity of `*` matches any
    /// entity, `prefix.*` every entity under `prefix` (not `prefix` itself),
    /// anything else only itself — the same rule as identity's rights.
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
}

/// Is `entity` strictly under `prefix` (`crm.deal` under `crm`)?
fn is_under(entity: &str, prefix: &str) -> bool {
    entity
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// Does the entity pattern of a right match `entity`?
pub fn entity_matches(pattern: &str, entity: &str) -> bool {
    pattern == "*"
        || pattern == entity
        || pattern
            .strip_suffix(".*")
            .is_some_and(|prefix| is_under(entity, prefix))
}

/// A scope, as asked and as granted. `effective` holds the rights that checks
/// use: the explicit rights plus the rights of the named roles at approval.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Scope {
    /// Read-only access to everything (outside admin-only areas).
    pub read_only: bool,
    /// Named tenant roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Explicit rights, `entity:action`.
    #[serde(default)]
    pub rights: Vec<String>,
    /// Resolved rights (empty until approval).
    #[serde(default)]
    pub effective: Vec<Right>,
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allowed?
    pub allowed: bool,
    /// Why, in words.
    pub reason: String,
}

impl Scope {
    /// Read-only access.
    pub fn read_only() -> Self {
        Self {
            read_only: true,
            ..Self::default()
        }
    }

    /// Checks and normalises a scope as asked: at least something, rights
    /// well-formed and outside the admin-only areas. An empty scope means
    /// read-only.
    pub fn validated(
        read_only: bool,
        roles: &[String],
        rights: &[String],
    ) -> Result<Self, DomainError> {
        let mut roles: Vec<String> = roles
            .iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        roles.sort();
        roles.dedup();
        if roles.len() > MAX_ROLES || rights.len() > MAX_RIGHTS {
            return Err(DomainError::Invalid(format!(
                "a scope may name at most {MAX_ROLES} roles and {MAX_RIGHTS} rights"
            )));
        }
        if let Some(r) = roles.iter().find(|r| r.chars().count() > MAX_ROLE_LEN) {
            return Err(DomainError::Invalid(format!(
                "role name {:?}… is longer than {MAX_ROLE_LEN} characters",
                r.chars().take(MAX_ROLE_LEN).collect::<String>()
            )));
        }
        let mut parsed = Vec::new();
        for r in rights {
            let right = Right::parse(r)?;
            if is_admin_only(&right.entity) {
                return Err(DomainError::Invalid(format!(
                    "right {} is in an admin-only area: support may never manage admins or the owner, 2FA settings or support-access settings",
                    right.text()
                )));
            }
            parsed.push(right.text());
        }
        parsed.sort();
        parsed.dedup();
        let read_only = read_only || (roles.is_empty() && parsed.is_empty());
        Ok(Self {
            read_only,
            roles,
            rights: parsed,
            effective: Vec::new(),
        })
    }

    /// Checks that `self` (what an admin approves) is no wider than `asked`.
    pub fn check_narrower_than(&self, asked: &Scope) -> Result<(), DomainError> {
        if self.read_only && !asked.read_only {
            return Err(DomainError::Invalid(
                "an approval may not add read-only access that was not asked for".into(),
            ));
        }
        if let Some(role) = self.roles.iter().find(|r| !asked.roles.contains(r)) {
            return Err(DomainError::Invalid(format!(
                "an approval may not add role {role} that was not asked for"
            )));
        }
        let asked_rights: Vec<Right> = asked
            .rights
            .iter()
            .filter_map(|r| Right::parse(r).ok())
            .collect();
        for r in &self.rights {
            let right = Right::parse(r)?;
            if !asked_rights.iter().any(|a| a.covers_right(&right)) {
                return Err(DomainError::Invalid(format!(
                    "an approval may not add right {r} that was not asked for"
                )));
            }
        }
        Ok(())
    }

    /// Fills `effective` from the explicit rights and the roles' rights,
    /// leaving out anything in an admin-only area.
    pub fn resolve(mut self, role_rights: Vec<Right>) -> Self {
        let mut eff: Vec<Right> = self
            .rights
            .iter()
            .filter_map(|r| Right::parse(r).ok())
            .chain(role_rights)
            .filter(|r| !is_admin_only(&r.entity))
            .collect();
        eff.sort();
        eff.dedup();
        self.effective = eff;
        self
    }

    /// May the holder do `action` on `entity`?
    pub fn allows(&self, entity: &str, action: &str) -> Decision {
        if is_admin_only(entity) {
            return Decision {
                allowed: false,
                reason: format!(
                    "{entity} is an admin-only area: support may never manage admins or the owner, 2FA settings or support-access settings"
                ),
            };
        }
        if self.read_only && READ_ACTIONS.contains(&action) {
            return Decision {
                allowed: true,
                reason: "the grant allows read-only access".into(),
            };
        }
        if let Some(r) = self.effective.iter().find(|r| r.covers(entity, action)) {
            return Decision {
                allowed: true,
                reason: format!("the grant includes the right {}", r.text()),
            };
        }
        Decision {
            allowed: false,
            reason: format!("{entity}:{action} is outside the grant's scope"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn admin_only_areas_are_refused_when_asked_and_when_checked() {
        assert!(is_admin_only("identity.admins"));
        assert!(is_admin_only("security.2fa.settings"));
        assert!(!is_admin_only("administration_log"));
        assert!(Scope::validated(false, &[], &s(&["support_access:edit"])).is_err());
        let all = Scope::validated(false, &s(&["admin"]), &[])
            .map(|x| {
                x.resolve(vec![Right {
                    entity: "*".into(),
                    action: "*".into(),
                }])
            })
            .unwrap_or_default();
        assert!(all.allows("crm.deal", "delete").allowed);
        assert!(!all.allows("identity.admins", "change").allowed);
        assert!(!all.allows("support_access", "edit").allowed);
    }

    #[test]
    fn read_only_allows_reading_only() {
        let ro = Scope::validated(false, &[], &[]).unwrap_or_default();
        assert!(ro.read_only);
        assert!(ro.allows("crm.deal", "read").allowed);
        let d = ro.allows("crm.deal", "change");
        assert!(!d.allowed && d.reason.contains("outside the grant's scope"));
    }

    #[test]
    fn approval_may_only_narrow() {
        let asked =
            Scope::validated(false, &s(&["sales"]), &s(&["crm.deal:*"])).unwrap_or_default();
        let ok = Scope::validated(false, &[], &s(&["crm.deal:read"])).unwrap_or_default();
        assert!(ok.check_narrower_than(&asked).is_ok());
        let wider = Scope::validated(false, &[], &s(&["crm.lead:read"])).unwrap_or_default();
        assert!(wider.check_narrower_than(&asked).is_err());
        let role = Scope::validated(false, &s(&["admin"]), &[]).unwrap_or_default();
        assert!(role.check_narrower_than(&asked).is_err());
        let ro = Scope::read_only();
        assert!(ro.check_narrower_than(&asked).is_err());
    }

    fn right(e: &str, a: &str) -> Right {
        Right {
            entity: e.into(),
            action: a.into(),
        }
    }

    #[test]
    fn prefix_wildcards_match_like_identity() {
        let crm = right("crm.*", "read");
        assert!(crm.covers("crm.deal", "read"));
        assert!(crm.covers("crm.deal.stage", "read"));
        assert!(!crm.covers("crm", "read"));
        assert!(!crm.covers("crmx.deal", "read"));
        assert!(!crm.covers("crm.deal", "change"));
        assert!(right("*", "*").covers("anything.at.all", "do"));
        assert!(!right("crm.deal", "read").covers("crm.deal.stage", "read"));
    }

    #[test]
    fn prefix_wildcards_in_scopes_and_approvals() {
        let sc = Scope::validated(false, &[], &s(&["crm.*:read"]))
            .unwrap_or_default()
            .resolve(Vec::new());
        assert!(sc.allows("crm.deal", "read").allowed);
        assert!(!sc.allows("crm", "read").allowed);
        assert!(!sc.allows("hr.salary", "read").allowed);
        // Asked crm.*:*, an approval may narrow to a sub-prefix or one entity.
        let asked = Scope::validated(false, &[], &s(&["crm.*:*"])).unwrap_or_default();
        for ok in ["crm.deal:read", "crm.deal.*:read", "crm.*:read", "crm.*:*"] {
            let narrowed = Scope::validated(false, &[], &s(&[ok])).unwrap_or_default();
            assert!(narrowed.check_narrower_than(&asked).is_ok(), "{ok}");
        }
        for wider in ["crm:read", "*:read", "crmx.deal:read", "hr.*:read"] {
            let w = Scope::validated(false, &[], &s(&[wider])).unwrap_or_default();
            assert!(w.check_narrower_than(&asked).is_err(), "{wider}");
        }
        // An exact right never covers a prefix pattern.
        let exact = Scope::validated(false, &[], &s(&["crm.deal:read"])).unwrap_or_default();
        let pattern = Scope::validated(false, &[], &s(&["crm.deal.*:read"])).unwrap_or_default();
        assert!(pattern.check_narrower_than(&exact).is_err());
        // Admin-only areas stay refused under a prefix right.
        let idy = Scope::validated(false, &[], &s(&["identity.*:*"]))
            .unwrap_or_default()
            .resolve(Vec::new());
        assert!(!idy.allows("identity.admins", "change").allowed);
        assert!(idy.allows("identity.users", "read").allowed);
    }

    #[test]
    fn rights_have_identitys_shape_and_bounded_size() {
        for ok in [
            "crm.deal:read",
            "crm.*:read",
            "*:*",
            "crm.deal-2:change_all",
        ] {
            assert!(Right::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "crm",
            "crm.deal:",
            "Crm.Deal:read",
            "crm*:read",
            "crm..deal:read",
            "crm.deal:re ad",
        ] {
            assert!(Right::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{}:read", "a".repeat(100));
        assert!(Right::parse(&long).is_err());
        let many: Vec<String> = (0..33).map(|i| format!("crm.e{i}:read")).collect();
        assert!(Scope::validated(false, &[], &many).is_err());
        let roles: Vec<String> = (0..17).map(|i| format!("role{i}")).collect();
        assert!(Scope::validated(false, &roles, &[]).is_err());
    }
}
