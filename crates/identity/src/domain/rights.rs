//! Rights (`entity:action`) and the built-in roles.

use crate::error::{Error, Result};

/// One right: an action on an entity. `*` stands for any entity or action, and
/// an entity ending in `.*` for every entity under that prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Right {
    /// e.g. `crm.deal`.
    pub entity: String,
    /// e.g. `read`.
    pub action: String,
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Checks an entity name: dot-separated lowercase segments (`crm.deal`).
pub fn valid_entity(entity: &str) -> bool {
    entity.split('.').all(valid_segment)
}

/// Checks an action name: one lowercase word (`read`).
pub fn valid_action(action: &str) -> bool {
    valid_segment(action)
}

impl Right {
    /// Parses and validates a right, wildcards allowed.
    pub fn new(entity: &str, action: &str) -> Result<Self> {
        let entity = entity.trim();
        let action = action.trim();
        let entity_ok = entity == "*"
            || valid_entity(entity)
            || entity.strip_suffix(".*").is_some_and(valid_entity);
        if !entity_ok {
            return Err(Error::invalid(format!(
                "right entity {entity:?} is not valid: use dot-separated lowercase names like crm.deal, or * for all"
            )));
        }
        if !(action == "*" || valid_action(action)) {
            return Err(Error::invalid(format!(
                "right action {action:?} is not valid: use one lowercase word like read, or * for all"
            )));
        }
        Ok(Self {
            entity: entity.to_string(),
            action: action.to_string(),
        })
    }

    /// Parses `entity:action`.
    pub fn parse(text: &str) -> Result<Self> {
        let (entity, action) = text.split_once(':').ok_or_else(|| {
            Error::invalid(format!("right {text:?} must be written entity:action"))
        })?;
        Self::new(entity, action)
    }

    /// Does this right allow `action` on `entity`?
    pub fn grants(&self, entity: &str, action: &str) -> bool {
        let entity_ok = self.entity == "*"
            || self.entity == entity
            || self.entity.strip_suffix(".*").is_some_and(|prefix| {
                entity
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('.'))
            });
        entity_ok && (self.action == "*" || self.action == action)
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

/// Reads stored rights, skipping anything unreadable.
pub fn decode(text: &str) -> Vec<Right> {
    text.lines().filter_map(|l| Right::parse(l).ok()).collect()
}

/// Name of the built-in admin role.
pub const ADMIN_ROLE: &str = "admin";
/// Name of the built-in role every employee holds.
pub const EMPLOYEE_ROLE: &str = "employee";
/// Name of the built-in integrator role.
pub const INTEGRATOR_ROLE: &str = "integrator";
/// Name of the built-in read-only role for support grants.
pub const SUPPORT_READ_ONLY_ROLE: &str = "support_read_only";

/// The roles every tenant starts with, and their rights.
pub fn built_in_roles() -> Vec<(&'static str, Vec<Right>)> {
    let r = |e: &str, a: &str| Right {
        entity: e.into(),
        action: a.into(),
    };
    vec![
        (ADMIN_ROLE, vec![r("*", "*")]),
        (EMPLOYEE_ROLE, vec![]),
        // Admin rights; the few things integrators may not do (appoint or
        // dismiss admins, turn off 2FA, transfer ownership) are refused by
        // identity itself.
        (INTEGRATOR_ROLE, vec![r("*", "*")]),
        (SUPPORT_READ_ONLY_ROLE, vec![r("*", "read")]),
    ]
}

/// Entities only an employee admin may touch: managing admins or the owner,
/// 2FA settings, support-access settings. Kept equal to the broker's
/// `ADMIN_ONLY_ENTITIES` (crates/broker/src/domain/scope.rs), which keeps
/// support agents out of the same areas. An entity is covered when it equals
/// one of these or lies under one (`identity.admins.list`).
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

fn is_under(entity: &str, prefix: &str) -> bool {
    entity
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// Is `entity` in an admin-only area?
pub fn is_admin_only(entity: &str) -> bool {
    let e = entity.trim().to_ascii_lowercase();
    ADMIN_ONLY_ENTITIES
        .iter()
        .any(|a| e == *a || is_under(&e, a))
}

/// Does `right` reach past what an integrator may hand out: every entity
/// (`*`), or any entity of an admin-only area (`identity.*` covers
/// `identity.admins`)?
pub fn beyond_integrators(right: &Right) -> bool {
    if right.entity == "*" {
        return true;
    }
    match right.entity.strip_suffix(".*") {
        Some(prefix) => {
            is_admin_only(prefix) || ADMIN_ONLY_ENTITIES.iter().any(|a| is_under(a, prefix))
        }
        None => is_admin_only(&right.entity),
    }
}

/// Refuses an integrator creating, changing or assigning a role with
/// `rights` that reach past what integrators may hand out.
pub fn check_integrator_may_grant(rights: &[Right]) -> Result<()> {
    match rights.iter().find(|r| beyond_integrators(r)) {
        Some(r) => Err(Error::denied(format!(
            "integrators may not hand out the right {r}: rights on every entity (*) or on admin-only areas (admins and the owner, 2FA settings, support-access settings) are for employee administrators"
        ))),
        None => Ok(()),
    }
}

/// Is `name` one of the built-in roles?
pub fn is_built_in(name: &str) -> bool {
    built_in_roles().iter().any(|(n, _)| *n == name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parsing_and_validation() {
        assert!(Right::parse("crm.deal:read").is_ok());
        assert!(Right::parse("openchannel.settings:edit").is_ok());
        assert!(Right::parse("*:*").is_ok());
        assert!(Right::parse("crm.*:read").is_ok());
        assert!(Right::parse("crm.deal").is_err());
        assert!(Right::parse("CRM.deal:read").is_err());
        assert!(Right::parse("crm..deal:read").is_err());
        assert!(Right::parse("crm.deal:").is_err());
        assert!(Right::parse("crm.deal:re ad").is_err());
        assert!(Right::parse(":read").is_err());
    }

    #[test]
    fn wildcards_match() {
        let all = Right::parse("*:*").unwrap();
        assert!(all.grants("crm.deal", "read"));
        let read = Right::parse("*:read").unwrap();
        assert!(read.grants("crm.deal", "read"));
        assert!(!read.grants("crm.deal", "change"));
        let crm = Right::parse("crm.*:change").unwrap();
        assert!(crm.grants("crm.deal", "change"));
        assert!(!crm.grants("crmx.deal", "change"));
        assert!(!crm.grants("crm", "change"));
        let exact = Right::parse("crm.deal:read").unwrap();
        assert!(exact.grants("crm.deal", "read"));
        assert!(!exact.grants("crm.deal", "change"));
        assert!(!exact.grants("crm.lead", "read"));
    }

    #[test]
    fn encode_round_trips() {
        let rights = vec![
            Right::parse("crm.deal:read").unwrap(),
            Right::parse("*:read").unwrap(),
        ];
        assert_eq!(decode(&encode(&rights)), rights);
    }

    #[test]
    fn what_integrators_may_not_hand_out() {
        let beyond = |t: &str| beyond_integrators(&Right::parse(t).unwrap());
        for wide in [
            "*:*",
            "*:read",
            "identity.*:read",
            "identity.admins:change",
            "identity.admins.*:change",
            "security.*:edit",
            "support_access:edit",
            "broker.settings:edit",
            "totp:disable",
        ] {
            assert!(beyond(wide), "{wide}");
        }
        for fine in [
            "crm.deal:read",
            "crm.*:*",
            "identity.users:read",
            "administration_log:read",
            "app.chat:use",
        ] {
            assert!(!beyond(fine), "{fine}");
        }
        let ok = vec![Right::parse("crm.*:*").unwrap()];
        assert!(check_integrator_may_grant(&ok).is_ok());
        let wide = vec![ok[0].clone(), Right::parse("*:read").unwrap()];
        let err = check_integrator_may_grant(&wide).unwrap_err().to_string();
        assert!(
            err.contains("*:read") && err.contains("admin-only"),
            "{err}"
        );
    }

    #[test]
    fn admin_only_matches_the_broker_rule() {
        assert!(is_admin_only("identity.admins"));
        assert!(is_admin_only("security.2fa.settings"));
        assert!(is_admin_only("Support_Access"));
        assert!(!is_admin_only("administration_log"));
        assert!(!is_admin_only("identity.users"));
    }

    #[test]
    fn built_ins() {
        assert!(is_built_in("admin") && is_built_in("support_read_only"));
        assert!(!is_built_in("sales"));
    }
}
