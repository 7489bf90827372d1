//! `Authorize`: may this user do this action on this entity in this tenant,
//! now? The answer names the rule that decided, so an admin can see why.

use super::departments::{Node, lineage};
use super::people::totp_overdue;
use super::rights::{ADMIN_ROLE, EMPLOYEE_ROLE, INTEGRATOR_ROLE, Right};
use chrono::{DateTime, Utc};
use keyholder_kit::auth::PrincipalKind;
use std::collections::HashMap;

/// Who a role or an app's access list is given to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubjectRef {
    /// A user.
    User(String),
    /// A department (and its sub-departments).
    Department(String),
}

/// The user being checked.
#[derive(Debug, Clone)]
pub struct UserFacts {
    /// Id.
    pub id: String,
    /// Kind.
    pub kind: PrincipalKind,
    /// Not deactivated.
    pub active: bool,
    /// Holds the admin role.
    pub admin: bool,
    /// TOTP on.
    pub totp_enabled: bool,
    /// Integrators' 2FA deadline.
    pub totp_deadline: Option<DateTime<Utc>>,
    /// Departments the user is directly in.
    pub departments: Vec<String>,
}

/// A tenant role.
#[derive(Debug, Clone)]
pub struct RoleFacts {
    /// Name.
    pub name: String,
    /// Rights.
    pub rights: Vec<Right>,
    /// Who holds it.
    pub holders: Vec<SubjectRef>,
}

/// An installed app and its access list.
#[derive(Debug, Clone)]
pub struct AppFacts {
    /// Code.
    pub code: String,
    /// Access list; empty means every employee.
    pub access: Vec<SubjectRef>,
}

/// Everything `decide` looks at.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The user.
    pub user: UserFacts,
    /// The tenant's department tree.
    pub departments: HashMap<String, Node>,
    /// The tenant's roles with holders (built-in ones included).
    pub roles: Vec<RoleFacts>,
    /// The app named by an `app.<code>` entity, when installed.
    pub app: Option<AppFacts>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allow or deny.
    pub allowed: bool,
    /// The rule that decided.
    pub rule: String,
}

fn allow(rule: String) -> Decision {
    Decision {
        allowed: true,
        rule,
    }
}

fn deny(rule: String) -> Decision {
    Decision {
        allowed: false,
        rule,
    }
}

impl Facts {
    fn dept_name(&self, id: &str) -> String {
        self.departments
            .get(id)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| id.to_string())
    }

    /// How the user reaches `subject`: "directly", "via department East", or
    /// `None`. Department assignments reach every sub-department's members.
    fn reaches(&self, subject: &SubjectRef) -> Option<String> {
        match subject {
            SubjectRef::User(id) if *id == self.user.id => Some("directly".into()),
            SubjectRef::User(_) => None,
            SubjectRef::Department(dept) => self.user.departments.iter().find_map(|own| {
                let line = lineage(own, &self.departments);
                line.iter().any(|d| d == dept).then(|| {
                    if own == dept {
                        format!("via department {}", self.dept_name(dept))
                    } else {
                        format!(
                            "via department {} (inherited by sub-department {})",
                            self.dept_name(dept),
                            self.dept_name(own)
                        )
                    }
                })
            }),
        }
    }
}

/// Decides `entity:action` for the facts' user at `now`.
pub fn decide(facts: &Facts, entity: &str, action: &str, now: DateTime<Utc>) -> Decision {
    let u = &facts.user;
    let want = format!("{entity}:{action}");
    match u.kind {
        PrincipalKind::Employee | PrincipalKind::Integrator => {}
        PrincipalKind::SupportAgent => {
            return deny(
                "support agents enter a tenant only through an active support-access grant from the broker".into(),
            );
        }
        _ => return deny("the principal is not a member of this tenant".into()),
    }
    if !u.active {
        return deny("the user is deactivated".into());
    }
    if totp_overdue(u.kind, u.totp_enabled, u.totp_deadline, now) {
        return deny(
            "integrator 2FA overdue: two-factor authentication had to be turned on within 10 days of the invitation".into(),
        );
    }
    // Integrators are administrators minus the admin-only powers: their
    // built-in role holds every right, and what no delegate may ever be
    // authorized for is taken away first, by the right's structure.
    if u.kind == PrincipalKind::Integrator
        && let Err(why) = keyholder_rights::delegate_may(entity, action)
    {
        return deny(format!(
            "integrators may not be authorized for {want}: {why}"
        ));
    }
    if u.kind == PrincipalKind::Employee && u.admin {
        return allow(format!("role {ADMIN_ROLE} grants {want} (administrator)"));
    }
    if u.kind == PrincipalKind::Employee
        && let Some(code) = entity.strip_prefix("app.")
        && action == "use"
    {
        return decide_app(facts, code);
    }
    let mut best: Option<(u8, String)> = None;
    for role in &facts.roles {
        if !role.rights.iter().any(|r| r.covers(entity, action)) {
            continue;
        }
        let reach = if role.name == EMPLOYEE_ROLE && u.kind == PrincipalKind::Employee {
            Some("(held by every employee)".to_string())
        } else if role.name == INTEGRATOR_ROLE && u.kind == PrincipalKind::Integrator {
            Some("(held by every integrator)".to_string())
        } else {
            role.holders.iter().find_map(|h| facts.reaches(h))
        };
        if let Some(how) = reach {
            // Prefer the most specific explanation: direct, then department,
            // then the role every employee holds.
            let rank = if how == "directly" {
                0
            } else if how.starts_with("via") {
                1
            } else {
                2
            };
            if best.as_ref().is_none_or(|(r, _)| rank < *r) {
                best = Some((rank, format!("role {} grants {want} {how}", role.name)));
            }
        }
    }
    match best {
        Some((_, rule)) => allow(rule),
        None => deny(format!("no role of the user grants {want}")),
    }
}

fn decide_app(facts: &Facts, code: &str) -> Decision {
    let Some(app) = facts.app.as_ref().filter(|a| a.code == code) else {
        return deny(format!("app {code} is not installed in this tenant"));
    };
    if app.access.is_empty() {
        return allow(format!(
            "app {code} has an empty access list: every employee may use it"
        ));
    }
    for subject in &app.access {
        if let Some(how) = facts.reaches(subject) {
            return allow(format!("app {code} access list includes the user {how}"));
        }
    }
    deny(format!(
        "app {code} access list does not include the user or their departments"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::departments::tests::tree;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn facts(kind: PrincipalKind, depts: &[&str]) -> Facts {
        Facts {
            user: UserFacts {
                id: "u1".into(),
                kind,
                active: true,
                admin: false,
                totp_enabled: false,
                totp_deadline: None,
                departments: depts.iter().map(|d| d.to_string()).collect(),
            },
            departments: tree(&[
                ("sales", None),
                ("east", Some("sales")),
                ("moscow", Some("east")),
                ("it", None),
            ]),
            roles: vec![
                RoleFacts {
                    name: "employee".into(),
                    rights: vec![Right::parse("profile:read").unwrap()],
                    holders: vec![],
                },
                RoleFacts {
                    name: "sales".into(),
                    rights: vec![Right::parse("crm.deal:read").unwrap()],
                    holders: vec![SubjectRef::Department("east".into())],
                },
                RoleFacts {
                    name: "integrator".into(),
                    rights: vec![Right::parse("*:*").unwrap()],
                    holders: vec![],
                },
                RoleFacts {
                    name: "editor".into(),
                    rights: vec![Right::parse("crm.*:change").unwrap()],
                    holders: vec![SubjectRef::User("u1".into())],
                },
            ],
            app: None,
        }
    }

    #[test]
    fn department_roles_are_inherited_by_sub_departments() {
        let f = facts(PrincipalKind::Employee, &["moscow"]);
        let d = decide(&f, "crm.deal", "read", now());
        assert!(d.allowed);
        assert_eq!(
            d.rule,
            "role sales grants crm.deal:read via department east (inherited by sub-department moscow)"
        );
        let f = facts(PrincipalKind::Employee, &["east"]);
        assert_eq!(
            decide(&f, "crm.deal", "read", now()).rule,
            "role sales grants crm.deal:read via department east"
        );
        let f = facts(PrincipalKind::Employee, &["sales"]);
        let d = decide(&f, "crm.deal", "read", now());
        assert!(!d.allowed, "a parent does not inherit from its child");
        let f = facts(PrincipalKind::Employee, &["it"]);
        assert!(!decide(&f, "crm.deal", "read", now()).allowed);
    }

    #[test]
    fn direct_roles_wildcards_and_the_employee_role() {
        let f = facts(PrincipalKind::Employee, &[]);
        let d = decide(&f, "crm.lead", "change", now());
        assert_eq!(d.rule, "role editor grants crm.lead:change directly");
        let d = decide(&f, "profile", "read", now());
        assert!(d.allowed && d.rule.contains("held by every employee"));
        let d = decide(&f, "crm.lead", "delete", now());
        assert_eq!(d, deny("no role of the user grants crm.lead:delete".into()));
    }

    #[test]
    fn empty_app_list_means_every_employee() {
        let mut f = facts(PrincipalKind::Employee, &["moscow"]);
        assert!(!decide(&f, "app.chatapp", "use", now()).allowed);
        f.app = Some(AppFacts {
            code: "chatapp".into(),
            access: vec![],
        });
        let d = decide(&f, "app.chatapp", "use", now());
        assert!(d.allowed && d.rule.contains("empty access list"));
        f.app = Some(AppFacts {
            code: "chatapp".into(),
            access: vec![SubjectRef::Department("it".into())],
        });
        assert!(!decide(&f, "app.chatapp", "use", now()).allowed);
        f.app = Some(AppFacts {
            code: "chatapp".into(),
            access: vec![SubjectRef::Department("sales".into())],
        });
        let d = decide(&f, "app.chatapp", "use", now());
        assert!(d.allowed && d.rule.contains("via department sales"));
    }

    proptest::proptest! {
        /// No spelling of a capability-backed right (as `Authorize` receives
        /// it: possibly any string, trimmed) lets an integrator through.
        #[test]
        fn no_spelling_authorizes_an_integrator(
            which in 0usize..64,
            prefix in "[a-z0-9]{0,4}",
            sep in proptest::sample::select(vec!["", ".", "_", "-"]),
            suffix in "[a-z0-9]{0,4}",
            upper in proptest::bool::ANY,
        ) {
            let all: Vec<Right> = keyholder_rights::Capability::ALL
                .into_iter()
                .flat_map(|c| c.rights())
                .collect();
            let right = &all[which % all.len()];
            let action = if right.action == "*" { "change" } else { right.action.as_str() };
            let mut entity = format!("{prefix}{sep}{}{sep}{suffix}", right.entity);
            if upper {
                entity = entity.to_uppercase();
            }
            let f = facts(PrincipalKind::Integrator, &[]);
            let d = decide(&f, entity.trim_matches(|c| c == '.' || c == '_' || c == '-'), action, now());
            proptest::prop_assert!(!d.allowed, "{entity}:{action} -> {}", d.rule);
        }
    }

    #[test]
    fn admins_integrators_agents_and_the_inactive() {
        let mut f = facts(PrincipalKind::Employee, &[]);
        f.user.admin = true;
        assert!(decide(&f, "anything.here", "delete", now()).allowed);
        f.user.active = false;
        assert_eq!(
            decide(&f, "x", "read", now()).rule,
            "the user is deactivated"
        );
        let mut f = facts(PrincipalKind::Integrator, &[]);
        f.user.totp_deadline = Some(now() + chrono::Duration::seconds(10));
        assert!(decide(&f, "crm.deal", "read", now()).allowed);
        let late = now() + chrono::Duration::seconds(11);
        let d = decide(&f, "crm.deal", "read", late);
        assert!(!d.allowed && d.rule.contains("2FA overdue"));
        f.user.totp_enabled = true;
        assert!(decide(&f, "crm.deal", "read", late).allowed);
        for (entity, action) in [
            ("identity.admins", "change"),
            ("support_access", "change"),
            ("security.2fa.settings", "change"),
            ("security.totp", "disable"),
            ("identity.users", "set_admin"),
            ("settings.security", "edit"),
            ("mfa", "disable"),
        ] {
            let d = decide(&f, entity, action, now());
            assert!(!d.allowed, "{entity}:{action}");
            assert!(
                d.rule.starts_with(&format!(
                    "integrators may not be authorized for {entity}:{action}: "
                )) && d.rule.contains("admin-only"),
                "{}",
                d.rule
            );
        }
        assert!(decide(&f, "identity.users", "read", now()).allowed);
        let d = decide(&f, "crm.deal", "delete", now());
        assert_eq!(
            d.rule,
            "role integrator grants crm.deal:delete (held by every integrator)"
        );
        // Integrators reach apps through their role, as admins do.
        assert!(decide(&f, "app.chatapp", "use", now()).allowed);
        // The employee role is not the integrator's, nor the reverse.
        let mut e = facts(PrincipalKind::Employee, &[]);
        e.roles.retain(|r| r.name != "editor");
        assert!(!decide(&e, "crm.deal", "delete", now()).allowed);
        let f = facts(PrincipalKind::SupportAgent, &[]);
        assert!(!decide(&f, "crm.deal", "read", now()).allowed);
    }
}
