//! What the broker asks identity, as its own service account: role rights (to
//! snapshot a grant's scope), users (agents the helpdesk names), tenants
//! (whether one exists, and its name for refusal messages). The credentials
//! file is read at first use, so the broker can start before identity has
//! written it.

use crate::domain::scope::Right;
use crate::error::Error;
use keyholder_kit::client::Channel;
use keyholder_kit::client::ServiceToken;
use keyholder_kit::credentials::{self, ServiceCredentials};
use keyholder_proto::identity::v1::identity_service_client::IdentityServiceClient;
use keyholder_proto::identity::v1::{
    GetTenantContactsRequest, GetUserRequest, ListRolesRequest, ListUsersRequest, User,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;
use tokio::sync::OnceCell;

/// Identity, called with the broker's service account.
pub struct IdentityClient {
    channel: Channel,
    credentials_file: PathBuf,
    token: OnceCell<ServiceToken>,
    clock: keyholder_kit::clock::SharedClock,
    /// Tenants identity confirmed, with their names (possibly empty). Only
    /// positive answers are kept: a tenant created a moment ago must not be
    /// refused because an earlier lookup missed it.
    tenants: RwLock<HashMap<String, String>>,
}

fn unavailable(status: tonic::Status) -> Error {
    match status.code() {
        tonic::Code::NotFound => Error::NotFound(status.message().to_string()),
        tonic::Code::InvalidArgument => Error::InvalidArgument(status.message().to_string()),
        _ => Error::Identity(status.message().into()),
    }
}

impl IdentityClient {
    /// Calls identity on `channel`, signing in with the credentials in `credentials_file`.
    pub fn new(
        channel: Channel,
        credentials_file: PathBuf,
        clock: keyholder_kit::clock::SharedClock,
    ) -> Self {
        Self {
            channel,
            credentials_file,
            clock,
            token: OnceCell::new(),
            tenants: RwLock::new(HashMap::new()),
        }
    }

    /// The service token (reading the credentials file the first time).
    pub async fn service_token(&self) -> Result<&ServiceToken, Error> {
        self.token
            .get_or_try_init(|| async {
                let creds: ServiceCredentials =
                    credentials::read(&self.credentials_file).map_err(|e| {
                        Error::Identity(format!("broker's service credentials: {e}").into())
                    })?;
                Ok::<_, Error>(ServiceToken::new(
                    self.channel.clone(),
                    creds,
                    self.clock.clone(),
                ))
            })
            .await
    }

    /// A request carrying the service token.
    pub async fn request<T>(&self, msg: T) -> Result<tonic::Request<T>, Error> {
        self.service_token()
            .await?
            .request(msg)
            .await
            .map_err(|e| Error::Identity(e.to_string().into()))
    }

    fn client(&self) -> IdentityServiceClient<Channel> {
        IdentityServiceClient::new(self.channel.clone())
    }

    /// The rights of the named roles in a tenant; an unknown name is refused.
    pub async fn role_rights(
        &self,
        tenant_id: &str,
        names: &[String],
    ) -> Result<Vec<Right>, Error> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: HashMap<String, Vec<Right>> = HashMap::new();
        let mut page_token = String::new();
        loop {
            let req = self
                .request(ListRolesRequest {
                    tenant_id: tenant_id.to_string(),
                    page_size: 500,
                    page_token: page_token.clone(),
                })
                .await?;
            let resp = self
                .client()
                .list_roles(req)
                .await
                .map_err(unavailable)?
                .into_inner();
            for role in resp.roles {
                let rights = role
                    .rights
                    .into_iter()
                    .map(|r| Right {
                        entity: r.entity,
                        action: r.action,
                    })
                    .collect();
                found.insert(role.name, rights);
            }
            if resp.next_page_token.is_empty() {
                break;
            }
            page_token = resp.next_page_token;
        }
        let mut out = Vec::new();
        for n in names {
            let rights = found.remove(n).ok_or_else(|| {
                Error::InvalidArgument(format!("the tenant has no role named {n}"))
            })?;
            out.extend(rights);
        }
        Ok(out)
    }

    /// A user by id.
    pub async fn user(&self, user_id: &str) -> Result<User, Error> {
        let req = self
            .request(GetUserRequest {
                user_id: user_id.to_string(),
            })
            .await?;
        self.client()
            .get_user(req)
            .await
            .map_err(unavailable)?
            .into_inner()
            .user
            .ok_or_else(|| Error::NotFound(format!("user {user_id} not found")))
    }

    /// The active support agent with this e-mail, if any (a helpdesk
    /// ticket's assignee).
    pub async fn support_agent_by_email(&self, email: &str) -> Result<Option<User>, Error> {
        let req = self
            .request(ListUsersRequest {
                email: email.to_string(),
                ..Default::default()
            })
            .await?;
        Ok(self
            .client()
            .list_users(req)
            .await
            .map_err(unavailable)?
            .into_inner()
            .users
            .into_iter()
            .find(|u| {
                u.active
                    && u.kind == keyholder_proto::identity::v1::PrincipalKind::SupportAgent as i32
            }))
    }

    /// Whether the tenant exists. Identity's NOT_FOUND (and INVALID_ARGUMENT,
    /// for an id it cannot even look up) mean no; identity being unreachable
    /// is an error, so nothing is written for a tenant on a guess.
    pub async fn tenant_exists(&self, tenant_id: &str) -> Result<bool, Error> {
        Ok(self.tenant_name(tenant_id).await?.is_some())
    }

    /// The tenant's name for messages, or its id when identity cannot say.
    pub async fn tenant_label(&self, tenant_id: &str) -> String {
        match self.tenant_name(tenant_id).await {
            Ok(Some(name)) if !name.is_empty() => name,
            _ => tenant_id.to_string(),
        }
    }

    /// The tenant's name (`None`: no such tenant), from the cache or identity.
    async fn tenant_name(&self, tenant_id: &str) -> Result<Option<String>, Error> {
        if let Some(n) = self
            .tenants
            .read()
            .ok()
            .and_then(|m| m.get(tenant_id).cloned())
        {
            return Ok(Some(n));
        }
        let req = self
            .request(GetTenantContactsRequest {
                tenant_id: tenant_id.to_string(),
            })
            .await?;
        let name = match self.client().get_tenant_contacts(req).await {
            Ok(resp) => resp.into_inner().tenant_name,
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::NotFound | tonic::Code::InvalidArgument
                ) =>
            {
                return Ok(None);
            }
            Err(s) => return Err(Error::Identity(s.message().into())),
        };
        if let Ok(mut m) = self.tenants.write() {
            if m.len() >= 100_000 {
                m.clear();
            }
            m.insert(tenant_id.to_string(), name.clone());
        }
        Ok(Some(name))
    }
}
