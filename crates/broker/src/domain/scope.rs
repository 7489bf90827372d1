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

/// One right: an action on an entity; `*` matches anything.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Right {
    /// Entity.
    pub entity: String,
    /// Action.
    pub action: String,
}

impl Right {
    /// Parses `entity:action`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let (entity, action) = s
            .trim()
            .split_once(':')
            .ok_or_else(|| DomainError::Invalid(format!("right {s:?} must be entity:action")))?;
        let (entity, action) = (entity.trim(), action.trim());
        if entity.is_empty() || action.is_empty() {
            return Err(DomainError::Invalid(format!(
                "right {s:?} must be entity:action"
            )));
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

    /// Does this right cover `entity`/`action`?
    pub fn covers(&self, entity: &str, action: &str) -> bool {
        (self.entity == "*" || self.entity == entity)
            && (self.action == "*" || self.action == action)
    }

    /// Does this right cover all of `other`?
    pub fn covers_right(&self, other: &Right) -> bool {
        (self.entity == "*" || self.entity == other.entity)
            && (self.action == "*" || self.action == other.action)
    }
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
}
