//! What a grant lets an agent do: read-only, named roles, individual rights —
//! always minus what no delegate may do (`keyholder_rights::delegates`). Roles are resolved to rights when the
//! grant is approved and the rights are kept with the grant, so a check never
//! needs identity.

use super::DomainError;
use serde::{Deserialize, Serialize};

pub use keyholder_rights::right::{MAX_RIGHT_LEN, MAX_RIGHTS, MAX_ROLE_LEN, MAX_ROLES, Right};

/// Actions that only read.
pub const READ_ACTIONS: &[&str] = &["read", "view", "list", "get"];

/// Why support may never have `what`: the shared rule for delegates
/// (integrators and support agents alike).
fn admin_only(what: &str, why: keyholder_rights::Reserved) -> String {
    format!(
        "{what} is admin-only for support: support may never manage admins or the owner, 2FA, security or support-access settings ({why})"
    )
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
                "role name \"{}…\" is longer than {MAX_ROLE_LEN} characters",
                r.chars().take(MAX_ROLE_LEN).collect::<String>()
            )));
        }
        let mut parsed = Vec::new();
        for r in rights {
            let right = Right::parse(r)?;
            if let Err(why) = keyholder_rights::delegate_may_hold(&right) {
                return Err(DomainError::Invalid(admin_only(
                    &format!("right {right}"),
                    why,
                )));
            }
            parsed.push(right.to_string());
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
            .filter(|r| keyholder_rights::delegate_may_hold(r).is_ok())
            .collect();
        eff.sort();
        eff.dedup();
        self.effective = eff;
        self
    }

    /// May the holder do `action` on `entity`?
    pub fn allows(&self, entity: &str, action: &str) -> Decision {
        if let Err(why) = keyholder_rights::delegate_may(entity, action) {
            return Decision {
                allowed: false,
                reason: admin_only(&format!("{entity}:{action}"), why),
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
                reason: format!("the grant includes the right {r}"),
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
        for reserved in [
            "support_access:edit",
            "identity.admins:read",
            "security.2fa.settings:change",
            "identity.*:*",
            "settings.security:edit",
        ] {
            let e = Scope::validated(false, &[], &s(&[reserved]))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("admin-only"), "{reserved}: {e}");
        }
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
        let d = all.allows("security.totp", "disable");
        assert!(
            !d.allowed && d.reason.contains("admin-only"),
            "{}",
            d.reason
        );
        assert!(all.allows("identity.users", "read").allowed);
        assert!(!all.allows("identity.users", "set_admin").allowed);
        // Role rights reaching reserved areas are dropped when resolved.
        let sc = Scope::validated(false, &s(&["ops"]), &[])
            .unwrap_or_default()
            .resolve(vec![
                Right::parse("support_access.settings:*").unwrap_or_else(|_| right("x", "y")),
                Right::parse("crm.*:*").unwrap_or_else(|_| right("x", "y")),
            ]);
        assert_eq!(sc.effective, vec![right("crm.*", "*")]);
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
        let crm = Scope::validated(false, &[], &s(&["crm.*:*"]))
            .unwrap_or_default()
            .resolve(Vec::new());
        assert!(!crm.allows("crm.admins", "change").allowed);
        assert!(crm.allows("crm.deal", "change").allowed);
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
