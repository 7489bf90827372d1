//! The people most tests need, made through the real identity API.

use crate::{Suite, bearer};
use keyholder_kit::credentials::{self, OperatorCredentials, ServiceCredentials};
use keyholder_proto::identity::v1 as pb;

/// A tenant and its chief admin, signed in.
#[derive(Debug, Clone)]
pub struct TenantFixture {
    /// Tenant id.
    pub tenant_id: String,
    /// Tenant name.
    pub name: String,
    /// Chief admin's user id.
    pub chief_admin_id: String,
    /// Chief admin's e-mail.
    pub admin_email: String,
    /// Chief admin's password.
    pub admin_password: String,
    /// Chief admin's access token.
    pub admin_token: String,
}

/// A tenant user, signed in.
#[derive(Debug, Clone)]
pub struct UserFixture {
    /// User id.
    pub user_id: String,
    /// E-mail.
    pub email: String,
    /// Password.
    pub password: String,
    /// Access token.
    pub token: String,
}

/// A support agent, signed in with TOTP.
#[derive(Debug, Clone)]
pub struct AgentFixture {
    /// User id.
    pub agent_id: String,
    /// Display name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Password.
    pub password: String,
    /// Base32 TOTP secret.
    pub totp_secret: String,
    /// Access token (amr includes otp).
    pub token: String,
}

fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

impl Suite {
    /// The operator's bootstrap credentials.
    pub fn operator_credentials(&self) -> OperatorCredentials {
        credentials::read(&self.config.operator_credentials_file()).expect("operator.credentials")
    }

    /// A fresh token of the tenant's chief admin, by the suite's clock now
    /// (tokens signed in before the clock was moved on have expired).
    pub async fn admin_token_now(&self, t: &TenantFixture) -> String {
        self.sign_in(&t.tenant_id, &t.admin_email, &t.admin_password, "")
            .await
    }

    /// The chief admin's token if it is still good by the suite's clock,
    /// else a fresh one: for tests that move the clock on.
    pub async fn admin_token(&self, t: &TenantFixture) -> String {
        if self.token_alive(&t.admin_token) {
            return t.admin_token.clone();
        }
        self.admin_token_now(t).await
    }

    /// The agent's token if it is still good by the suite's clock, else a
    /// fresh one (password and the current TOTP step).
    pub async fn agent_token(&self, a: &AgentFixture) -> String {
        if self.token_alive(&a.token) {
            return a.token.clone();
        }
        self.sign_in("", &a.email, &a.password, &self.totp(&a.totp_secret))
            .await
    }

    /// Whether a token's `exp` is more than a minute past the suite's clock.
    pub fn token_alive(&self, token: &str) -> bool {
        use base64::Engine as _;
        let exp = token
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("exp").and_then(serde_json::Value::as_i64));
        let now = keyholder_kit::clock::Clock::now(&*self.clock).timestamp();
        exp.is_some_and(|exp| exp - 60 > now)
    }

    /// Signs in and returns the access token.
    pub async fn sign_in(
        &self,
        tenant_id: &str,
        email: &str,
        password: &str,
        totp_code: &str,
    ) -> String {
        self.identity()
            .sign_in(pb::SignInRequest {
                tenant_id: tenant_id.to_string(),
                email: email.to_string(),
                password: password.to_string(),
                totp_code: totp_code.to_string(),
            })
            .await
            .expect("sign in")
            .into_inner()
            .tokens
            .expect("tokens")
            .access_token
    }

    /// An operator access token.
    pub async fn operator_token(&self) -> String {
        let c = self.operator_credentials();
        self.sign_in("", &c.email, &c.password, "").await
    }

    /// A new tenant (English locale) with its chief admin signed in.
    pub async fn create_tenant(&self, name: &str, seat_limit: u32) -> TenantFixture {
        self.create_tenant_with_locale(name, seat_limit, pb::Locale::En)
            .await
    }

    /// A new tenant in the given locale with its chief admin signed in.
    pub async fn create_tenant_with_locale(
        &self,
        name: &str,
        seat_limit: u32,
        locale: pb::Locale,
    ) -> TenantFixture {
        let op = self.operator_token().await;
        let admin_email = format!("chief-{}@customer.example", short_id());
        let admin_password = format!("pw-{}-chief", short_id());
        let resp = self
            .identity()
            .create_tenant(bearer(
                pb::CreateTenantRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    name: name.to_string(),
                    seat_limit,
                    locale: locale as i32,
                    chief_admin: Some(pb::ChiefAdminSpec {
                        email: admin_email.clone(),
                        display_name: format!("{name} Chief"),
                        password: admin_password.clone(),
                    }),
                },
                &op,
            ))
            .await
            .expect("create tenant")
            .into_inner();
        let tenant = resp.tenant.expect("tenant");
        let admin_token = self
            .sign_in(&tenant.tenant_id, &admin_email, &admin_password, "")
            .await;
        TenantFixture {
            tenant_id: tenant.tenant_id,
            name: tenant.name,
            chief_admin_id: tenant.chief_admin_id,
            admin_email,
            admin_password,
            admin_token,
        }
    }

    /// A new employee of `tenant` (made an admin when `admin`), signed in.
    pub async fn create_employee(
        &self,
        tenant: &TenantFixture,
        email: &str,
        admin: bool,
    ) -> UserFixture {
        let password = format!("pw-{}-employee", short_id());
        let user = self
            .identity()
            .create_employee(bearer(
                pb::CreateEmployeeRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    tenant_id: tenant.tenant_id.clone(),
                    email: email.to_string(),
                    display_name: email.split('@').next().unwrap_or(email).to_string(),
                    password: password.clone(),
                    department_ids: vec![],
                },
                &tenant.admin_token,
            ))
            .await
            .expect("create employee")
            .into_inner()
            .user
            .expect("user");
        if admin {
            self.identity()
                .set_admin(bearer(
                    pb::SetAdminRequest {
                        request_id: uuid::Uuid::new_v4().to_string(),
                        user_id: user.user_id.clone(),
                        admin: true,
                    },
                    &tenant.admin_token,
                ))
                .await
                .expect("set admin");
        }
        let token = self.sign_in(&tenant.tenant_id, email, &password, "").await;
        UserFixture {
            user_id: user.user_id,
            email: email.to_string(),
            password,
            token,
        }
    }

    /// A new support agent, signed in with password and TOTP.
    pub async fn create_agent(&self, name: &str) -> AgentFixture {
        let op = self.operator_token().await;
        let email = format!("agent-{}@vendor.example", short_id());
        let password = format!("pw-{}-agent", short_id());
        let resp = self
            .identity()
            .create_support_agent(bearer(
                pb::CreateSupportAgentRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    email: email.clone(),
                    display_name: name.to_string(),
                    password: password.clone(),
                },
                &op,
            ))
            .await
            .expect("create support agent")
            .into_inner();
        let user = resp.user.expect("user");
        let token = self
            .sign_in("", &email, &password, &self.totp(&resp.totp_secret))
            .await;
        AgentFixture {
            agent_id: user.user_id,
            name: name.to_string(),
            email,
            password,
            totp_secret: resp.totp_secret,
            token,
        }
    }

    /// A new service account with `scopes`, and an access token for it.
    pub async fn create_service_account(
        &self,
        name: &str,
        scopes: &[&str],
    ) -> (ServiceCredentials, String) {
        let op = self.operator_token().await;
        let resp = self
            .identity()
            .create_service_account(bearer(
                pb::CreateServiceAccountRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    name: name.to_string(),
                    scopes: scopes.iter().map(|s| s.to_string()).collect(),
                },
                &op,
            ))
            .await
            .expect("create service account")
            .into_inner();
        let creds = ServiceCredentials {
            client_id: resp.account.expect("account").client_id,
            client_secret: resp.client_secret,
        };
        let token = self
            .identity()
            .issue_service_token(pb::IssueServiceTokenRequest {
                client_id: creds.client_id.clone(),
                client_secret: creds.client_secret.clone(),
            })
            .await
            .expect("issue service token")
            .into_inner()
            .access_token;
        (creds, token)
    }
}
