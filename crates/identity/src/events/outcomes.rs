//! Identity's changes as domain outcomes, and the one place where each
//! becomes its audit event: its name and the attributes a compliance review
//! reads. Handlers say what happened; they never spell an event.

use super::{Actor, Event, change};
use crate::domain::authorize::SubjectRef;
use crate::domain::departments::Department;
use crate::domain::directory::{App, Tenant};
use crate::domain::invitations::Invitation;
use crate::domain::people::User;
use crate::domain::rights::Role;
use chrono::{DateTime, Utc};

/// One change to a tenant's directory, as the domain made it.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// A tenant and its chief admin were created.
    TenantCreated {
        /// The tenant.
        tenant: &'a Tenant,
        /// Its chief admin.
        chief: &'a User,
    },
    /// Some of a tenant's settings changed (attribute name, new value).
    TenantUpdated {
        /// The tenant.
        tenant_id: &'a str,
        /// What changed.
        changed: &'a [(&'static str, String)],
    },
    /// The chief admin's place passed from `previous` to `to`.
    OwnershipTransferred {
        /// The tenant.
        tenant_id: &'a str,
        /// The chief before.
        previous: &'a str,
        /// The chief now.
        to: &'a str,
    },
    /// An employee was created in these departments.
    EmployeeCreated {
        /// The employee.
        user: &'a User,
        /// Their departments.
        departments: &'a [String],
    },
    /// A user was dismissed.
    UserDeactivated(&'a User),
    /// A user was re-hired.
    UserReactivated(&'a User),
    /// A user got (`true`) or lost the admin role.
    AdminSet(&'a User, bool),
    /// A user turned TOTP on.
    TotpEnabled(&'a User),
    /// A user's TOTP was turned off.
    TotpDisabled(&'a User),
    /// A department was created.
    DepartmentCreated(&'a Department),
    /// A user joined (`added`) or left a department.
    DepartmentMember {
        /// The tenant.
        tenant_id: &'a str,
        /// The department.
        department_id: &'a str,
        /// The user.
        user_id: &'a str,
        /// Joined rather than left.
        added: bool,
    },
    /// A role was created.
    RoleCreated(&'a Role),
    /// A role's rights were changed.
    RoleUpdated(&'a Role),
    /// A role was given to (`assigned`) or taken from a subject.
    RoleAssignment {
        /// The role.
        role: &'a Role,
        /// Its holder.
        subject: &'a SubjectRef,
        /// Given rather than taken.
        assigned: bool,
    },
    /// An app was installed.
    AppInstalled(&'a App),
    /// An app's access list was replaced.
    AppAccessChanged {
        /// The tenant.
        tenant_id: &'a str,
        /// The app.
        code: &'a str,
        /// Who may use it now.
        access: &'a [SubjectRef],
    },
    /// An invitation was accepted and became this integrator.
    InvitationAccepted {
        /// The invitation.
        invitation: &'a Invitation,
        /// The new integrator.
        user: &'a User,
        /// Their partner's name.
        partner_name: &'a str,
    },
    /// An invitation was withdrawn.
    InvitationWithdrawn(&'a Invitation),
    /// Guesses at this user's password are now slowed (after `failures`).
    SignInThrottled {
        /// The account.
        user: &'a User,
        /// Failures in a row.
        failures: i64,
    },
}

/// `user` or `department`, and the id.
fn subject(s: &SubjectRef) -> (&'static str, &str) {
    match s {
        SubjectRef::User(id) => ("user", id),
        SubjectRef::Department(id) => ("department", id),
    }
}

impl Outcome<'_> {
    fn tenant_id(&self) -> &str {
        match self {
            Self::TenantCreated { tenant, .. } => &tenant.tenant_id,
            Self::TenantUpdated { tenant_id, .. }
            | Self::OwnershipTransferred { tenant_id, .. }
            | Self::DepartmentMember { tenant_id, .. }
            | Self::AppAccessChanged { tenant_id, .. } => tenant_id,
            Self::EmployeeCreated { user, .. }
            | Self::UserDeactivated(user)
            | Self::UserReactivated(user)
            | Self::AdminSet(user, _)
            | Self::TotpEnabled(user)
            | Self::TotpDisabled(user)
            | Self::SignInThrottled { user, .. } => &user.tenant_id,
            Self::DepartmentCreated(d) => &d.tenant_id,
            Self::RoleCreated(r) | Self::RoleUpdated(r) | Self::RoleAssignment { role: r, .. } => {
                &r.tenant_id
            }
            Self::AppInstalled(a) => &a.tenant_id,
            Self::InvitationAccepted { invitation: i, .. } | Self::InvitationWithdrawn(i) => {
                &i.tenant_id
            }
        }
    }

    /// The event's `change` attribute.
    fn name(&self) -> &'static str {
        match self {
            Self::TenantCreated { .. } => "tenant_created",
            Self::TenantUpdated { .. } => "tenant_updated",
            Self::OwnershipTransferred { .. } => "ownership_transferred",
            Self::EmployeeCreated { .. } => "employee_created",
            Self::UserDeactivated(_) => "user_deactivated",
            Self::UserReactivated(_) => "user_reactivated",
            Self::AdminSet(_, true) => "admin_appointed",
            Self::AdminSet(_, false) => "admin_dismissed",
            Self::TotpEnabled(_) => "totp_enabled",
            Self::TotpDisabled(_) => "totp_disabled",
            Self::DepartmentCreated(_) => "department_created",
            Self::DepartmentMember { added: true, .. } => "department_member_added",
            Self::DepartmentMember { added: false, .. } => "department_member_removed",
            Self::RoleCreated(_) => "role_created",
            Self::RoleUpdated(_) => "role_updated",
            Self::RoleAssignment { assigned: true, .. } => "role_assigned",
            Self::RoleAssignment {
                assigned: false, ..
            } => "role_unassigned",
            Self::AppInstalled(_) => "app_installed",
            Self::AppAccessChanged { .. } => "app_access_changed",
            Self::InvitationAccepted { .. } => "invitation_accepted",
            Self::InvitationWithdrawn(_) => "invitation_withdrawn",
            Self::SignInThrottled { .. } => "sign_in_throttled",
        }
    }

    /// Ids, names and rights only: never a secret.
    fn attributes(&self) -> Vec<(&'static str, String)> {
        let s = |v: &str| v.to_string();
        match *self {
            Self::TenantCreated { tenant, chief } => vec![
                ("tenant_name", s(&tenant.name)),
                ("locale", s(&tenant.locale)),
                ("seat_limit", tenant.seat_limit.to_string()),
                ("user_id", s(&chief.user_id)),
                ("email", s(&chief.email)),
            ],
            Self::TenantUpdated { changed, .. } => changed.to_vec(),
            Self::OwnershipTransferred { previous, to, .. } => {
                vec![("previous_user_id", s(previous)), ("user_id", s(to))]
            }
            Self::EmployeeCreated { user, departments } => vec![
                ("user_id", s(&user.user_id)),
                ("email", s(&user.email)),
                ("display_name", s(&user.display_name)),
                ("department_ids", departments.join(",")),
            ],
            Self::UserDeactivated(u) | Self::UserReactivated(u) => vec![
                ("user_id", s(&u.user_id)),
                ("user_kind", s(u.kind.as_str())),
            ],
            Self::AdminSet(u, _) | Self::TotpEnabled(u) | Self::TotpDisabled(u) => {
                vec![("user_id", s(&u.user_id))]
            }
            Self::DepartmentCreated(d) => vec![
                ("department_id", s(&d.department_id)),
                ("department_name", s(&d.name)),
                ("parent_id", s(d.parent_id.as_deref().unwrap_or(""))),
            ],
            Self::DepartmentMember {
                department_id,
                user_id,
                ..
            } => vec![("department_id", s(department_id)), ("user_id", s(user_id))],
            Self::RoleCreated(r) | Self::RoleUpdated(r) => vec![
                ("role_id", s(&r.role_id)),
                ("role_name", s(&r.name)),
                ("rights", crate::domain::rights::encode(&r.rights)),
            ],
            Self::RoleAssignment {
                role, subject: who, ..
            } => {
                let (kind, id) = subject(who);
                let key = if kind == "department" {
                    "department_id"
                } else {
                    "user_id"
                };
                vec![
                    ("role_id", s(&role.role_id)),
                    ("role_name", s(&role.name)),
                    (key, s(id)),
                ]
            }
            Self::AppInstalled(a) => vec![("app_code", s(&a.code))],
            Self::AppAccessChanged { code, access, .. } => {
                let list = access
                    .iter()
                    .map(|who| {
                        let (kind, id) = subject(who);
                        format!("{kind}:{id}")
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                vec![("app_code", s(code)), ("access", list)]
            }
            Self::InvitationAccepted {
                invitation: i,
                user,
                partner_name,
            } => vec![
                ("invitation_id", s(&i.id)),
                ("user_id", s(&user.user_id)),
                ("email", s(&user.email)),
                ("partner_id", s(&i.partner_id)),
                ("partner_name", s(partner_name)),
                ("inviter_id", s(&i.inviter_id)),
            ],
            Self::InvitationWithdrawn(i) => vec![
                ("invitation_id", s(&i.id)),
                ("email", s(&i.email)),
                ("partner_id", s(&i.partner_id)),
            ],
            Self::SignInThrottled { user, failures } => vec![
                ("user_id", s(&user.user_id)),
                ("email", s(&user.email)),
                ("failures", failures.to_string()),
            ],
        }
    }
}

/// The audit events of `outcome`, made by `actor` at `now` (none outside a
/// tenant).
pub fn of(outcome: &Outcome<'_>, actor: Actor, now: DateTime<Utc>) -> Vec<Event> {
    let attributes = outcome.attributes();
    let attributes: Vec<(&str, &str)> = attributes.iter().map(|(k, v)| (*k, v.as_str())).collect();
    change(outcome.tenant_id(), outcome.name(), actor, now, &attributes)
}

/// A user acting on their own behalf (an integrator accepting an invitation).
pub fn user_actor(u: &User) -> Actor {
    Actor {
        actor_id: u.user_id.clone(),
        kind: u.kind.as_str().into(),
        display_name: u.display_name.clone(),
        email: u.email.clone(),
    }
}
