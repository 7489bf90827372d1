//! Domain values → proto messages, and proto enums → domain values.

use super::Api;
use crate::domain::authorize::SubjectRef;
use crate::domain::departments::Department;
use crate::domain::directory::{App, Partner, ServiceAccount, Tenant};
use crate::domain::invitations::{Invitation, Policy, State};
use crate::domain::people::User;
use crate::domain::rights::{Right, Role};
use crate::domain::tokens::PublishedKey;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use keyholder_kit::auth::PrincipalKind;
use keyholder_proto::identity::v1 as pb;
use prost_types::Timestamp;

/// An instant → proto timestamp, to the microsecond (what the store keeps,
/// so an answer and a later read of the same record agree).
pub fn ts(t: DateTime<Utc>) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_micros() * 1_000).unwrap_or(0),
    })
}

/// A token's `exp` (RFC 7519 seconds) → proto timestamp.
pub fn ts_secs(secs: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: secs,
        nanos: 0,
    })
}

/// Stored locale → proto.
pub fn locale_to_pb(l: &str) -> pb::Locale {
    match l {
        "ru" => pb::Locale::Ru,
        _ => pb::Locale::En,
    }
}

/// Proto locale → stored (`en` when unset).
pub fn locale_from_pb(raw: i32) -> Result<&'static str> {
    match pb::Locale::try_from(raw) {
        Ok(pb::Locale::Unspecified) | Ok(pb::Locale::En) => Ok("en"),
        Ok(pb::Locale::Ru) => Ok("ru"),
        Err(_) => Err(Error::invalid(format!("locale {raw} is not known"))),
    }
}

/// Principal kind → proto.
pub fn kind_to_pb(k: PrincipalKind) -> pb::PrincipalKind {
    match k {
        PrincipalKind::Operator => pb::PrincipalKind::Operator,
        PrincipalKind::Employee => pb::PrincipalKind::Employee,
        PrincipalKind::Integrator => pb::PrincipalKind::Integrator,
        PrincipalKind::SupportAgent => pb::PrincipalKind::SupportAgent,
        PrincipalKind::ServiceAccount => pb::PrincipalKind::ServiceAccount,
    }
}

/// A tenant.
pub fn tenant_pb(t: &Tenant) -> pb::Tenant {
    pb::Tenant {
        tenant_id: t.tenant_id.clone(),
        name: t.name.clone(),
        locale: locale_to_pb(&t.locale) as i32,
        // Limits are set from a u32 and never below 1.
        seat_limit: u32::try_from(t.seat_limit).unwrap_or(u32::MAX),
        chief_admin_id: t.chief_admin_id.clone(),
        create_time: ts(t.created_at),
        invitation_policy: policy_to_pb(t.invitation_policy) as i32,
    }
}

/// Invitation policy → proto.
pub fn policy_to_pb(p: Policy) -> pb::InvitationPolicy {
    match p {
        Policy::Everyone => pb::InvitationPolicy::Everyone,
        Policy::AdminsOnly => pb::InvitationPolicy::AdminsOnly,
    }
}

/// Proto invitation policy → domain (unset is the default, everyone).
pub fn policy_from_pb(raw: i32) -> Result<Policy> {
    match pb::InvitationPolicy::try_from(raw) {
        Ok(pb::InvitationPolicy::Unspecified | pb::InvitationPolicy::Everyone) => {
            Ok(Policy::Everyone)
        }
        Ok(pb::InvitationPolicy::AdminsOnly) => Ok(Policy::AdminsOnly),
        Err(_) => Err(Error::invalid(format!(
            "invitation_policy {raw} is not known"
        ))),
    }
}

/// An invitation as it stands at `now` (never its token).
pub fn invitation_pb(i: &Invitation, partner_name: &str, now: DateTime<Utc>) -> pb::Invitation {
    let state = match i.state(now) {
        State::Pending => pb::InvitationState::Pending,
        State::Accepted => pb::InvitationState::Accepted,
        State::Withdrawn => pb::InvitationState::Withdrawn,
        State::Expired => pb::InvitationState::Expired,
    };
    pb::Invitation {
        invitation_id: i.id.clone(),
        tenant_id: i.tenant_id.clone(),
        partner_id: i.partner_id.clone(),
        partner_name: partner_name.to_string(),
        email: i.email.clone(),
        display_name: i.display_name.clone(),
        inviter_id: i.inviter_id.clone(),
        state: state as i32,
        create_time: ts(i.created_at),
        expire_time: ts(i.expire_at),
        user_id: i.user_id.clone().unwrap_or_default(),
    }
}

/// A public signing key.
pub fn key_pb(k: &PublishedKey) -> pb::SigningKey {
    pb::SigningKey {
        kid: k.kid.clone(),
        alg: keyholder_kit::jwt::ALGORITHM_NAME.into(),
        public_key: k.public_key.clone(),
        create_time: ts(k.created_at),
        expire_time: k.publish_until.and_then(ts),
    }
}

/// A department.
pub fn department_pb(d: &Department) -> pb::Department {
    pb::Department {
        department_id: d.department_id.clone(),
        tenant_id: d.tenant_id.clone(),
        name: d.name.clone(),
        parent_id: d.parent_id.clone().unwrap_or_default(),
    }
}

/// A role.
pub fn role_pb(r: &Role) -> pb::Role {
    pb::Role {
        role_id: r.role_id.clone(),
        tenant_id: r.tenant_id.clone(),
        name: r.name.clone(),
        rights: r
            .rights
            .iter()
            .map(|x| pb::Right {
                entity: x.entity.clone(),
                action: x.action.clone(),
            })
            .collect(),
        built_in: r.built_in,
    }
}

/// Proto rights → validated rights.
pub fn rights_from_pb(rs: &[pb::Right]) -> Result<Vec<Right>> {
    rs.iter()
        .map(|r| Right::new(&r.entity, &r.action).map_err(|e| Error::invalid(e.to_string())))
        .collect()
}

/// A subject → proto.
pub fn subject_pb(s: &SubjectRef) -> pb::RoleSubject {
    use pb::role_subject::Subject;
    pb::RoleSubject {
        subject: Some(match s {
            SubjectRef::User(id) => Subject::UserId(id.clone()),
            SubjectRef::Department(id) => Subject::DepartmentId(id.clone()),
        }),
    }
}

/// Proto subject → domain (must name exactly one).
pub fn subject_from_pb(s: Option<&pb::RoleSubject>) -> Result<SubjectRef> {
    use pb::role_subject::Subject;
    match s.and_then(|s| s.subject.as_ref()) {
        Some(Subject::UserId(id)) if !id.trim().is_empty() => {
            Ok(SubjectRef::User(id.trim().into()))
        }
        Some(Subject::DepartmentId(id)) if !id.trim().is_empty() => {
            Ok(SubjectRef::Department(id.trim().into()))
        }
        _ => Err(Error::invalid(
            "subject must name a user_id or a department_id",
        )),
    }
}

/// An app.
pub fn app_pb(a: &App, access: &[SubjectRef]) -> pb::App {
    pb::App {
        tenant_id: a.tenant_id.clone(),
        code: a.code.clone(),
        access: access.iter().map(subject_pb).collect(),
        installed_by: a.installed_by.clone(),
        install_time: ts(a.installed_at),
    }
}

/// A partner.
pub fn partner_pb(p: &Partner, domains: Vec<String>) -> pb::Partner {
    pb::Partner {
        partner_id: p.partner_id.clone(),
        name: p.name.clone(),
        email_domains: domains,
    }
}

/// A service account (never its secret).
pub fn account_pb(a: &ServiceAccount) -> pb::ServiceAccount {
    pb::ServiceAccount {
        client_id: a.client_id.clone(),
        name: a.name.clone(),
        scopes: a.scopes.clone(),
        create_time: ts(a.created_at),
    }
}

impl Api {
    /// Is `u` the chief admin of their tenant?
    pub(super) async fn is_chief(&self, u: &User) -> Result<bool> {
        if u.tenant_id.is_empty() {
            return Ok(false);
        }
        Ok(self
            .store
            .tenant(&u.tenant_id)
            .await?
            .is_some_and(|t| t.chief_admin_id == u.user_id))
    }

    /// A user, with departments and chief-admin flag.
    pub(super) async fn user_pb(&self, u: &User) -> Result<pb::User> {
        let kind = u.kind;
        Ok(pb::User {
            user_id: u.user_id.clone(),
            tenant_id: u.tenant_id.clone(),
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            kind: kind_to_pb(kind) as i32,
            admin: u.admin,
            chief_admin: self.is_chief(u).await?,
            active: u.active,
            totp_enabled: u.totp_enabled,
            partner_id: u.partner_id.clone().unwrap_or_default(),
            totp_deadline: u.totp_deadline.and_then(ts),
            department_ids: self.store.user_departments(&u.user_id).await?,
            create_time: ts(u.created_at),
        })
    }
}
