//! `Authorize`: gathers the facts and asks the domain.

use super::Api;
use crate::domain::authorize::{self, AppFacts, Facts, RoleFacts, SubjectRef, UserFacts};
use crate::domain::departments::tree_of;
use crate::domain::{rights, validate};
use crate::error::{Error, Result};
use keyholder_kit::auth::PrincipalKind;
use keyholder_proto::identity::v1 as pb;
use std::collections::HashMap;
use tonic::Request;

impl Api {
    pub(super) async fn h_authorize(
        &self,
        req: Request<pb::AuthorizeRequest>,
    ) -> Result<pb::AuthorizeResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let tenant_id = validate::uuid("tenant_id", &r.tenant_id)?;
        if !p.has_scope("identity.authorize") {
            p.require_admin_of(&tenant_id)?;
        }
        let principal_id = validate::id("principal_id", &r.principal_id)?;
        let entity = r.entity.trim();
        let action = r.action.trim();
        if !rights::valid_entity(entity) || !rights::valid_action(action) {
            return Err(Error::invalid(
                "entity and action must be lowercase names like crm.deal and read",
            ));
        }
        let decision = self
            .decide(&tenant_id, &principal_id, entity, action)
            .await?;
        Ok(pb::AuthorizeResponse {
            allowed: decision.allowed,
            rule: decision.rule,
        })
    }

    async fn decide(
        &self,
        tenant_id: &str,
        principal_id: &str,
        entity: &str,
        action: &str,
    ) -> Result<authorize::Decision> {
        let Some(u) = self.store.user(principal_id).await? else {
            return Ok(authorize::Decision {
                allowed: false,
                rule: "the principal is not known".into(),
            });
        };
        let kind = u.kind;
        if u.tenant_id != tenant_id && kind != PrincipalKind::SupportAgent {
            return Ok(authorize::Decision {
                allowed: false,
                rule: "the principal is not a member of this tenant".into(),
            });
        }
        let snapshot = self.store.org_snapshot(tenant_id).await?;
        let mut holders: HashMap<&str, Vec<SubjectRef>> = HashMap::new();
        for a in &snapshot.assignments {
            holders
                .entry(a.role_id.as_str())
                .or_default()
                .push(a.subject.clone());
        }
        let roles = snapshot
            .roles
            .iter()
            .map(|r| RoleFacts {
                name: r.name.clone(),
                rights: r.rights.clone(),
                holders: holders.remove(r.role_id.as_str()).unwrap_or_default(),
            })
            .collect();
        let app = match entity.strip_prefix("app.") {
            Some(code) => self
                .store
                .app(tenant_id, code)
                .await?
                .map(|(a, access)| AppFacts {
                    code: a.code,
                    access,
                }),
            None => None,
        };
        let facts = Facts {
            user: UserFacts {
                id: u.user_id.clone(),
                kind,
                active: u.active,
                admin: u.admin,
                totp_enabled: u.totp_enabled,
                totp_deadline: u.totp_deadline,
                departments: self.store.user_departments(&u.user_id).await?,
            },
            departments: tree_of(&snapshot.departments),
            roles,
            app,
        };
        Ok(authorize::decide(&facts, entity, action, self.now()))
    }
}
