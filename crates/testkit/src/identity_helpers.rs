//! Extra identity fixtures (owned by the identity engineer).

use crate::{Suite, TenantFixture, UserFixture, bearer, ephemeral_listener};
use keyholder_kit::clock::SharedClock;
use keyholder_proto::identity::v1 as pb;
use std::net::SocketAddr;

impl Suite {
    /// Starts identity with a chosen clock (tests of deadlines and token
    /// times). Tokens are still verified against real time, so keep the clock
    /// near now whenever the tokens it issues must be accepted.
    pub async fn start_identity_with_clock(&mut self, clock: SharedClock) -> SocketAddr {
        self.start_identity_with_handle(clock).await.0
    }

    /// Starts identity with a chosen clock and returns a handle on its
    /// background work (`deliver_once`, `undelivered_events`). Set
    /// `self.config.audit.url` first to receive its events.
    pub async fn start_identity_with_handle(
        &mut self,
        clock: SharedClock,
    ) -> (SocketAddr, keyholder_identity::IdentityHandle) {
        let svc = keyholder_identity::Identity::prepare(&self.config, clock)
            .await
            .expect("identity prepares");
        let handle = svc.handle();
        let (listener, addr) = ephemeral_listener().await;
        let url = self.url(addr);
        self.config.identity.url = url;
        let stop = self.shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = svc.serve(listener, stop).await {
                eprintln!("identity stopped with error: {e}");
            }
        });
        self.identity = Some(self.channel(addr));
        (addr, handle)
    }

    /// The full SignIn answer (or its refusal).
    pub async fn sign_in_response(
        &self,
        tenant_id: &str,
        email: &str,
        password: &str,
        totp_code: &str,
    ) -> Result<pb::SignInResponse, tonic::Status> {
        self.identity()
            .sign_in(pb::SignInRequest {
                tenant_id: tenant_id.to_string(),
                email: email.to_string(),
                password: password.to_string(),
                totp_code: totp_code.to_string(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Registers a partner company (as the operator).
    pub async fn register_partner(&self, name: &str, domains: &[&str]) -> pb::Partner {
        let op = self.operator_token().await;
        self.identity()
            .register_partner(bearer(
                pb::RegisterPartnerRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    name: name.to_string(),
                    email_domains: domains.iter().map(|d| d.to_string()).collect(),
                },
                &op,
            ))
            .await
            .expect("register partner")
            .into_inner()
            .partner
            .expect("partner")
    }

    /// Invites an integrator into `tenant` (by its chief admin), accepts the
    /// invitation with a password of the invitee's choosing and signs them
    /// in (password only: they have 10 days to turn on TOTP).
    pub async fn invite_integrator(&self, tenant: &TenantFixture, email: &str) -> UserFixture {
        self.invite_integrator_as(&tenant.tenant_id, &tenant.admin_token, email)
            .await
            .expect("invite integrator");
        self.accept_invitation_of(&tenant.tenant_id, email).await
    }

    /// Invites `email` into `tenant_id` as the holder of `token`.
    pub async fn invite_integrator_as(
        &self,
        tenant_id: &str,
        token: &str,
        email: &str,
    ) -> Result<pb::Invitation, tonic::Status> {
        let resp = self
            .identity()
            .invite_integrator(bearer(
                pb::InviteIntegratorRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    tenant_id: tenant_id.to_string(),
                    email: email.to_string(),
                    display_name: email.split('@').next().unwrap_or(email).to_string(),
                    ..Default::default()
                },
                token,
            ))
            .await?
            .into_inner();
        Ok(resp.invitation.expect("invitation"))
    }

    /// Accepts the pending invitation of `email` (its token read from
    /// identity's outbox, see [`Suite::invitation_token`]) with a fresh
    /// password, and signs the new integrator in.
    pub async fn accept_invitation_of(&self, tenant_id: &str, email: &str) -> UserFixture {
        let token = self.invitation_token(email).await;
        let password = format!("pw-{}-integrator", uuid::Uuid::new_v4().simple());
        let user = self
            .identity()
            .accept_invitation(pb::AcceptInvitationRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                token,
                password: password.clone(),
            })
            .await
            .expect("accept invitation")
            .into_inner()
            .user
            .expect("user");
        let token = self.sign_in(tenant_id, email, &password, "").await;
        UserFixture {
            user_id: user.user_id,
            email: email.to_string(),
            password,
            token,
        }
    }

    /// The acceptance token of the newest invitation of `email`, read where
    /// it waits for audit: identity's outbox (test support only; the token
    /// is nowhere else in identity). Once audit has taken it, it is only in
    /// the invitation e-mail, so this panics then.
    pub async fn invitation_token(&self, email: &str) -> String {
        use keyholder_identity::store::entities::outbox as row;
        use keyholder_proto::audit::v1::EventKind;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        let url = self
            .config
            .database_url(keyholder_kit::config::ServiceName::Identity);
        let db = sea_orm::Database::connect(url.expose())
            .await
            .expect("connect to identity's database");
        let rows = row::Entity::find()
            .filter(row::Column::Secret.is_not_null())
            .order_by_desc(row::Column::Seq)
            .all(&db)
            .await
            .expect("read identity's outbox");
        let _ = db.close().await;
        let kek = keyholder_kit::kek::KekRing::from_config(&self.config).expect("the suite's kek");
        rows.iter()
            .filter_map(|r| keyholder_identity::store::outbox::decode(&kek, r))
            .find(|e| {
                e.kind == EventKind::IntegratorInvited as i32
                    && e.attributes.get("email").map(String::as_str) == Some(email)
            })
            .map(|e| e.invitation_token)
            .unwrap_or_else(|| {
                panic!("no undelivered invitation of {email} in identity's outbox (delivered to audit already? read the token from the e-mail)")
            })
    }
}

/// The code of a base32 TOTP secret (SHA-1, 6 digits, 30 s) at `unix_time`.
/// Identity accepts each code's time step only once (RFC 6238 §5.2), so a
/// test signing the same person in again within 30 s passes the code of the
/// next step: `totp_at(secret, now + 30)` (still within the one step of skew).
pub fn totp_at(secret_base32: &str, unix_time: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).expect("base32 totp secret");
    totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .expect("totp")
        .generate(unix_time)
        .to_string()
}
