//! Integrator invitations: invite, accept (public: the token is the
//! credential), withdraw, list.

use super::Api;
use super::convert::invitation_pb;
use crate::domain::invitations::{self, Invitation, Inviter, NewInvitation, check_may_invite};
use crate::domain::people::NewUser;
use crate::domain::{password, random, validate};
use crate::error::{Error, Result};
use crate::events::{self, InvitationMail};
use keyholder_kit::paging::Page;
use keyholder_proto::identity::v1 as pb;
use std::collections::HashMap;
use tonic::Request;

/// The answer to any token that matches no invitation.
const UNKNOWN_TOKEN: &str =
    "no invitation has this token; check the e-mail, or ask for a new invitation";

impl Api {
    /// The partner's name, for answers and refusals (empty if the partner
    /// is gone: partners are never deleted, and a name is only shown).
    pub(super) async fn partner_name(&self, partner_id: &str) -> Result<String> {
        Ok(self
            .store
            .partner(partner_id)
            .await?
            .map(|p| p.name)
            .unwrap_or_default())
    }

    pub(super) async fn h_invite_integrator(
        &self,
        req: Request<pb::InviteIntegratorRequest>,
    ) -> Result<pb::InviteIntegratorResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let tenant_id = validate::uuid("tenant_id", &r.tenant_id)?;
        p.require_member_of(&tenant_id)?;
        let email = validate::email(&r.email)?;
        let display = validate::name("display_name", &r.display_name)?;
        // The deprecated `password` field is ignored: the invitee chooses
        // their own when accepting, and the inviter never learns it.
        self.once(&p.id, "InviteIntegrator", &r.request_id, || async {
            let t = self.visible_tenant(&p, &tenant_id).await?;
            let domain = validate::email_domain(&email);
            let partner = self.store.partner_by_domain(domain).await?.ok_or_else(|| {
                Error::precondition(format!(
                    "e-mail domain {domain} does not belong to a registered partner"
                ))
            })?;
            // The stored row, not the token: an admin dismissed a minute ago
            // or an integrator's partner must be read fresh.
            let me = self
                .store
                .user(&p.id)
                .await?
                .ok_or_else(|| Error::Unauthenticated("the account no longer exists".into()))?;
            let inviter = Inviter {
                kind: me.kind,
                admin: me.admin,
                partner_id: me.partner_id.as_deref(),
            };
            check_may_invite(&inviter, t.invitation_policy, &partner.partner_id)?;
            let now = self.now();
            let (inv, token) = Invitation::create(
                NewInvitation {
                    tenant_id: tenant_id.clone(),
                    partner_id: partner.partner_id.clone(),
                    email: email.clone(),
                    display_name: display.clone(),
                    inviter_id: p.id.clone(),
                },
                now,
            )?;
            let event = events::integrator_invited(
                &tenant_id,
                events::actor(&p),
                now,
                &InvitationMail {
                    invitation_id: &inv.id,
                    email: &inv.email,
                    display_name: &inv.display_name,
                    partner_id: &partner.partner_id,
                    partner_name: &partner.name,
                    tenant_name: &t.name,
                    locale: &t.locale,
                    expire_at: inv.expire_at,
                    token: &token,
                },
            );
            self.store
                .insert_invitation(&inv, &partner.name, &[event])
                .await?;
            tracing::info!(invitation_id = %inv.id, tenant_id = %tenant_id, partner_id = %partner.partner_id, by = %p.id, "integrator invited");
            Ok(pb::InviteIntegratorResponse {
                invitation: Some(invitation_pb(&inv, &partner.name, now)),
                ..Default::default()
            })
        })
        .await
    }

    pub(super) async fn h_accept_invitation(
        &self,
        req: Request<pb::AcceptInvitationRequest>,
    ) -> Result<pb::AcceptInvitationResponse> {
        // Public: the token is the credential; no bearer token is read.
        let r = req.into_inner();
        invitations::check_token_shape(&r.token)?;
        password::validate(&r.password)?;
        let inv = self
            .store
            .invitation_by_token_hash(&invitations::token_hash(&r.token))
            .await?
            .ok_or_else(|| Error::not_found(UNKNOWN_TOKEN))?;
        // Retries are keyed on the invitation: only the token's holder gets here.
        let caller = format!("invitation:{}", inv.id);
        self.once(&caller, "AcceptInvitation", &r.request_id, || async {
            let now = self.now();
            let user_id = random::id();
            let mut accepted = inv.clone();
            accepted.accept(&user_id, now)?;
            let partner_name = self.partner_name(&inv.partner_id).await?;
            let u = NewUser {
                email: inv.email.clone(),
                display_name: inv.display_name.clone(),
                password_hash: password::hash(&r.password).await?,
            }
            .integrator(user_id, &inv, now);
            let accepted_by = events::Outcome::InvitationAccepted {
                invitation: &inv,
                user: &u,
                partner_name: &partner_name,
            };
            let events = events::of(&accepted_by, events::user_actor(&u), now);
            self.store
                .accept_invitation(&accepted, &u, &partner_name, &events, now)
                .await?;
            tracing::info!(invitation_id = %inv.id, user_id = %u.user_id, tenant_id = %inv.tenant_id, "invitation accepted");
            Ok(pb::AcceptInvitationResponse {
                user: Some(self.user_pb(&u).await?),
            })
        })
        .await
    }

    pub(super) async fn h_withdraw_invitation(
        &self,
        req: Request<pb::WithdrawInvitationRequest>,
    ) -> Result<pb::WithdrawInvitationResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let id = validate::uuid("invitation_id", &r.invitation_id)?;
        self.once(&p.id, "WithdrawInvitation", &r.request_id, || async {
            let inv = self
                .store
                .invitation(&id)
                .await?
                .filter(|i| p.is_member_of(&i.tenant_id))
                .ok_or_else(|| Error::not_found(format!("invitation {id} not found")))?;
            let admin_employee = self
                .store
                .user(&p.id)
                .await?
                .is_some_and(|u| u.is_active_admin_employee());
            let now = self.now();
            let mut withdrawn = inv.clone();
            withdrawn.withdraw(&p.id, admin_employee, now)?;
            let events = self.change(&p, events::Outcome::InvitationWithdrawn(&inv));
            self.store
                .withdraw_invitation(&withdrawn, &events, now)
                .await?;
            tracing::info!(invitation_id = %inv.id, by = %p.id, "invitation withdrawn");
            let partner_name = self.partner_name(&inv.partner_id).await?;
            Ok(pb::WithdrawInvitationResponse {
                invitation: Some(invitation_pb(&withdrawn, &partner_name, now)),
            })
        })
        .await
    }

    pub(super) async fn h_list_invitations(
        &self,
        req: Request<pb::ListInvitationsRequest>,
    ) -> Result<pb::ListInvitationsResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let tenant_id = validate::uuid("tenant_id", &r.tenant_id)?;
        p.require_admin_of(&tenant_id)?;
        let page = Page::parse(r.page_size, &r.page_token)?;
        let now = self.now();
        let mut rows = self
            .store
            .list_invitations(&tenant_id, r.include_closed, now, page)
            .await?;
        let (next, keep) = page.finish(rows.len());
        rows.truncate(keep);
        let mut names: HashMap<String, String> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for i in &rows {
            if !names.contains_key(&i.partner_id) {
                let name = self.partner_name(&i.partner_id).await?;
                names.insert(i.partner_id.clone(), name);
            }
            let name = names.get(&i.partner_id).map(String::as_str).unwrap_or("");
            out.push(invitation_pb(i, name, now));
        }
        Ok(pb::ListInvitationsResponse {
            invitations: out,
            next_page_token: next,
        })
    }
}
