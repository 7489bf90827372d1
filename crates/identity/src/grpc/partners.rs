//! Partners, support agents and service accounts (integrators are invited:
//! see `invitations`).

use super::Api;
use super::convert::{account_pb, partner_pb};
use super::secret_hash;
use crate::domain::directory::{Partner, ServiceAccount};
use crate::domain::people::NewUser;
use crate::domain::{password, random, totp, validate};
use crate::error::{Error, Result};
use keyholder_kit::paging::Page;
use keyholder_proto::identity::v1 as pb;
use tonic::Request;

impl Api {
    pub(super) async fn h_register_partner(
        &self,
        req: Request<pb::RegisterPartnerRequest>,
    ) -> Result<pb::RegisterPartnerResponse> {
        let p = self.caller(&req).await?;
        p.require_operator()?;
        let r = req.into_inner();
        let name = validate::name("name", &r.name)?;
        let mut domains = Vec::new();
        for d in &r.email_domains {
            let d = validate::domain(d)?;
            if !domains.contains(&d) {
                domains.push(d);
            }
        }
        if domains.is_empty() {
            return Err(Error::invalid("at least one e-mail domain is required"));
        }
        self.once(&p.id, "RegisterPartner", &r.request_id, || async {
            for d in &domains {
                if self.store.domain_taken(d).await? {
                    return Err(Error::AlreadyExists(format!(
                        "e-mail domain {d} already belongs to a registered partner"
                    )));
                }
            }
            let partner = Partner::new(name, self.now());
            self.store.insert_partner(&partner, &domains).await?;
            Ok(pb::RegisterPartnerResponse {
                partner: Some(partner_pb(&partner, domains.clone())),
            })
        })
        .await
    }

    pub(super) async fn h_list_partners(
        &self,
        req: Request<pb::ListPartnersRequest>,
    ) -> Result<pb::ListPartnersResponse> {
        let p = self.caller(&req).await?;
        p.require_operator()?;
        let r = req.into_inner();
        let page = Page::parse(r.page_size, &r.page_token)?;
        let mut rows = self.store.list_partners(page).await?;
        let (next, keep) = page.finish(rows.len());
        rows.truncate(keep);
        Ok(pb::ListPartnersResponse {
            partners: rows.into_iter().map(|(p, d)| partner_pb(&p, d)).collect(),
            next_page_token: next,
        })
    }

    pub(super) async fn h_create_support_agent(
        &self,
        req: Request<pb::CreateSupportAgentRequest>,
    ) -> Result<pb::CreateSupportAgentResponse> {
        let p = self.caller(&req).await?;
        p.require_operator()?;
        let r = req.into_inner();
        let email = validate::email(&r.email)?;
        let display = validate::name("display_name", &r.display_name)?;
        password::validate(&r.password)?;
        // The TOTP secret (also inside the otpauth URI) is never stored a
        // second time: a retry gets the agent without it.
        let without_secret = |resp: &pb::CreateSupportAgentResponse| {
            prost::Message::encode_to_vec(&pb::CreateSupportAgentResponse {
                user: resp.user.clone(),
                totp_secret: String::new(),
                otpauth_uri: String::new(),
            })
        };
        self.once_stored_as(
            &p.id,
            "CreateSupportAgent",
            &r.request_id,
            without_secret,
            || async {
                if self.store.user_by_email("", &email).await?.is_some() {
                    return Err(Error::AlreadyExists(format!(
                        "a support agent with e-mail {email} already exists"
                    )));
                }
                let secret = totp::new_secret()?;
                let u = NewUser {
                    email,
                    display_name: display,
                    password_hash: password::hash(&r.password).await?,
                }
                .support_agent(self.now(), |id| Ok(self.store.seal_totp(id, &secret)?))?;
                self.store.insert_user(&u, &[], &[]).await?;
                Ok(pb::CreateSupportAgentResponse {
                    otpauth_uri: totp::otpauth_uri(&secret, &u.email),
                    user: Some(self.user_pb(&u).await?),
                    totp_secret: secret,
                })
            },
        )
        .await
    }

    pub(super) async fn h_create_service_account(
        &self,
        req: Request<pb::CreateServiceAccountRequest>,
    ) -> Result<pb::CreateServiceAccountResponse> {
        let p = self.caller(&req).await?;
        p.require_operator()?;
        let r = req.into_inner();
        let name = validate::name("name", &r.name)?;
        let mut scopes = Vec::new();
        for s in &r.scopes {
            let s = validate::scope(s)?;
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        if scopes.is_empty() {
            return Err(Error::invalid("at least one scope is required"));
        }
        // Not through `once`: the secret is shown once and never stored.
        let secret = random::secret(32)?;
        let a = ServiceAccount {
            client_id: format!("svc-{}", random::id()),
            name,
            scopes,
            secret_hash: secret_hash(&secret),
            created_at: self.now(),
        };
        self.store.insert_service_account(&a).await?;
        tracing::info!(client_id = %a.client_id, "service account created");
        Ok(pb::CreateServiceAccountResponse {
            account: Some(account_pb(&a)),
            client_secret: secret,
        })
    }

    pub(super) async fn h_list_service_accounts(
        &self,
        req: Request<pb::ListServiceAccountsRequest>,
    ) -> Result<pb::ListServiceAccountsResponse> {
        let p = self.caller(&req).await?;
        p.require_operator()?;
        let r = req.into_inner();
        let page = Page::parse(r.page_size, &r.page_token)?;
        let mut rows = self.store.list_service_accounts(page).await?;
        let (next, keep) = page.finish(rows.len());
        rows.truncate(keep);
        Ok(pb::ListServiceAccountsResponse {
            accounts: rows.iter().map(account_pb).collect(),
            next_page_token: next,
        })
    }

    pub(super) async fn h_disable_service_account(
        &self,
        req: Request<pb::DisableServiceAccountRequest>,
    ) -> Result<pb::DisableServiceAccountResponse> {
        let p = self.caller(&req).await?;
        p.require_operator()?;
        let client_id = validate::id("client_id", &req.get_ref().client_id)?;
        if !self.store.disable_service_account(&client_id).await? {
            return Err(Error::not_found(format!(
                "service account {client_id} not found"
            )));
        }
        tracing::info!(client_id = %client_id, "service account disabled");
        Ok(pb::DisableServiceAccountResponse {})
    }
}
