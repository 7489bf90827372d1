//! What a delegate — an integrator, or support agent, acting in a tenant that
//! is not theirs — may never be authorized for, decided by the structure of a
//! right rather than by a list of entity names to refuse.
//!
//! A right is refused to delegates when any of these holds:
//! 1. it is not spelled in the canonical grammar (lowercase ASCII names), so
//!    case variants, Unicode lookalikes and stray whitespace never match;
//! 2. it exercises a [`Capability`] (the one table in `capability`);
//! 3. it names a security control: its entity or action, with the
//!    separators `.`, `_` and `-` removed, contains a security stem (`admin`,
//!    `totp`, `supportaccess` …) — wherever it sits, so prefixes, suffixes
//!    and re-punctuated spellings are caught;
//! 4. it is one of Keyholder's own rights (a segment of the entity names a
//!    Keyholder service) and not on the short allowlist of everyday
//!    administration delegates may do.
//!
//! Everything else is the tenant's business (`crm.deal`, `app.chat`), which
//! delegates reach through their roles like anyone else.

use crate::capability::Capability;
use crate::right::{Right, valid_action, valid_entity};

/// Stems naming security controls: administrators and the owner, second
/// factors, security and support-access settings. Matched as substrings of
/// the separator-free spelling, so `crm.deal_owner` is refused too: a false
/// refusal costs an administrator one click, a false grant costs the tenant.
const SECURITY_STEMS: &[&str] = &[
    "admin",
    "owner",
    "security",
    "2fa",
    "mfa",
    "totp",
    "hotp",
    "twofactor",
    "secondfactor",
    "supportaccess",
];

/// Keyholder's services. An entity with one of these as a dot-separated
/// segment is one of Keyholder's own objects; delegates reach only
/// [`DELEGATE_SYSTEM_RIGHTS`]. Whole segments only: `hr.identity_documents`
/// is the tenant's business.
const SERVICE_WORDS: &[&str] = &["identity", "broker", "audit", "keyholder"];

/// Keyholder's own rights a delegate may hold: the everyday administration an
/// integrator is invited for (people, departments, roles, apps). An
/// allowlist: a new Keyholder right stays refused to delegates until it is
/// added here.
const DELEGATE_SYSTEM_RIGHTS: &[(&str, &str)] = &[
    ("identity.users", "read"),
    ("identity.users", "list"),
    ("identity.users", "invite"),
    ("identity.users", "change"),
    ("identity.departments", "*"),
    ("identity.roles", "read"),
    ("identity.roles", "list"),
    ("identity.apps", "read"),
    ("identity.apps", "list"),
];

/// Why a right is refused to delegates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reserved {
    /// Not a canonical entity/action name.
    #[error("it is not a canonical lowercase entity:action name")]
    NotCanonical,
    /// Every entity (`*`), admin-only areas included.
    #[error("it reaches every entity (*), admin-only areas included")]
    Everything,
    /// It exercises an admin-only power.
    #[error("it is admin-only: only an employee administrator may {}", .0.describe())]
    Capability(Capability),
    /// It names a security control.
    #[error(
        "it is in an admin-only area: administrators and the owner, two-factor authentication, security and support-access settings are for employee administrators"
    )]
    SecurityArea,
    /// One of Keyholder's own rights, outside what delegates may hold.
    #[error(
        "it is one of Keyholder's own admin-only rights: delegates may only manage users, departments, roles and apps"
    )]
    SystemRight,
}

/// The spelling with separators (and wildcards) removed: `support_access`,
/// `support.access` and `support-access` all read `supportaccess`.
fn squashed(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '.' | '_' | '-' | '*'))
        .collect()
}

fn names_security_control(name: &str) -> bool {
    let s = squashed(name);
    SECURITY_STEMS.iter().any(|stem| s.contains(stem))
}

fn names_keyholder_service(entity: &str) -> bool {
    entity
        .split('.')
        .any(|segment| SERVICE_WORDS.contains(&segment))
}

fn delegate_system_rights() -> impl Iterator<Item = Right> {
    DELEGATE_SYSTEM_RIGHTS.iter().map(|(e, a)| Right {
        entity: (*e).to_string(),
        action: (*a).to_string(),
    })
}

/// May a delegate be authorized for `action` on the concrete `entity`? Both
/// must already be canonical: callers trim, nothing here normalises.
pub fn delegate_may(entity: &str, action: &str) -> Result<(), Reserved> {
    if !valid_entity(entity) || !valid_action(action) {
        return Err(Reserved::NotCanonical);
    }
    delegate_may_hold(&Right {
        entity: entity.to_string(),
        action: action.to_string(),
    })
}

/// May a delegate hold `right` (wildcards allowed) in a scope that is checked
/// again, entity by entity, with [`delegate_may`] at each use? `*` passes
/// here because every use is checked; a right naming a reserved area does
/// not.
pub fn delegate_may_hold(right: &Right) -> Result<(), Reserved> {
    if let Some(c) = Capability::exercised_by(right) {
        return Err(Reserved::Capability(c));
    }
    if names_security_control(&right.entity) || names_security_control(&right.action) {
        return Err(Reserved::SecurityArea);
    }
    if names_keyholder_service(&right.entity)
        && !delegate_system_rights().any(|a| a.covers_right(right))
    {
        return Err(Reserved::SystemRight);
    }
    Ok(())
}

/// May a delegate hand `right` to an employee (in a role they create, change
/// or assign)? Employees are not checked per use as delegates are, so the
/// right must not reach any capability nor any reserved area at all.
pub fn delegate_may_hand_out(right: &Right) -> Result<(), Reserved> {
    if right.entity == "*" {
        return Err(Reserved::Everything);
    }
    if let Some(c) = Capability::reached_by(right) {
        return Err(Reserved::Capability(c));
    }
    delegate_may_hold(right)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn r(text: &str) -> Right {
        Right::parse(text).unwrap()
    }

    #[test]
    fn every_capability_right_names_a_security_control() {
        // Rule 3 alone must catch every capability right, so a spelling that
        // slips past the table (a prefix, a suffix) is still refused.
        for c in Capability::ALL {
            for right in c.rights() {
                assert!(
                    names_security_control(&right.entity) || names_security_control(&right.action),
                    "{right}"
                );
            }
        }
    }

    #[test]
    fn the_allowlist_reaches_no_reserved_area() {
        for right in delegate_system_rights() {
            assert_eq!(Capability::reached_by(&right), None, "{right}");
            assert!(!names_security_control(&right.entity), "{right}");
            assert_eq!(delegate_may_hold(&right), Ok(()), "{right}");
        }
    }

    #[test]
    fn what_delegates_are_refused() {
        let cases = [
            (
                "security.totp",
                "disable",
                Reserved::Capability(Capability::DisableTwoFactor),
            ),
            (
                "identity.users",
                "set_admin",
                Reserved::Capability(Capability::AppointAdmins),
            ),
            (
                "settings.security",
                "edit",
                Reserved::Capability(Capability::DisableTwoFactor),
            ),
            (
                "mfa",
                "disable",
                Reserved::Capability(Capability::DisableTwoFactor),
            ),
            (
                "identity.tenants",
                "transfer_ownership",
                Reserved::Capability(Capability::TransferOwnership),
            ),
            (
                "support_access.requests",
                "approve",
                Reserved::Capability(Capability::DecideAccessRequests),
            ),
            ("identity.admins.list", "read", Reserved::SecurityArea),
            ("crm.security", "read", Reserved::SecurityArea),
            ("support.access", "edit", Reserved::SecurityArea),
            ("two-factor", "change", Reserved::SecurityArea),
            ("crm.deal", "make_admin", Reserved::SecurityArea),
            ("administration_log", "read", Reserved::SecurityArea),
            ("identity.sessions", "revoke", Reserved::SystemRight),
            ("x.broker.settings", "edit", Reserved::SystemRight),
            ("audit.events", "read", Reserved::SystemRight),
            ("Security.totp", "disable", Reserved::NotCanonical),
            ("security.totp ", "disable", Reserved::NotCanonical),
            ("crm.deal", "*", Reserved::NotCanonical),
        ];
        for (entity, action, why) in cases {
            assert_eq!(delegate_may(entity, action), Err(why), "{entity}:{action}");
        }
        for (entity, action) in [
            ("crm.deal", "delete"),
            ("identity.users", "read"),
            ("identity.departments", "change"),
            ("app.chatapp", "use"),
            ("openchannel.settings", "edit"),
            ("hr.identity_documents", "read"),
        ] {
            assert_eq!(delegate_may(entity, action), Ok(()), "{entity}:{action}");
        }
    }

    #[test]
    fn holding_and_handing_out() {
        // Held rights are checked again at each use, so `*` may be held.
        assert_eq!(delegate_may_hold(&r("*:*")), Ok(()));
        assert_eq!(delegate_may_hold(&r("crm.*:*")), Ok(()));
        assert_eq!(
            delegate_may_hold(&r("identity.*:*")),
            Err(Reserved::SystemRight)
        );
        assert_eq!(
            delegate_may_hold(&r("support_access:edit")),
            Err(Reserved::Capability(Capability::ChangeSupportAccess))
        );
        for wide in [
            "*:*",
            "*:read",
            "identity.*:read",
            "identity.admins:change",
            "identity.admins.*:change",
            "identity.users:*",
            "security.*:edit",
            "support_access:edit",
            "broker.settings:edit",
            "totp:disable",
            "settings.*:edit",
        ] {
            assert!(delegate_may_hand_out(&r(wide)).is_err(), "{wide}");
        }
        for fine in [
            "crm.deal:read",
            "crm.*:*",
            "identity.users:read",
            "identity.departments:*",
            "app.chat:use",
        ] {
            assert_eq!(delegate_may_hand_out(&r(fine)), Ok(()), "{fine}");
        }
    }
}
