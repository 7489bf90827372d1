//! Who to e-mail in a tenant, asked of identity (GetTenantContacts) with
//! audit's service account, cached briefly.

use crate::domain::templates::Locale;
use async_trait::async_trait;
use keyholder_kit::client::Channel;
use keyholder_kit::client::{ServiceToken, channel};
use keyholder_kit::credentials::{self, ServiceCredentials};
use keyholder_proto::identity::v1::identity_service_client::IdentityServiceClient;
use keyholder_proto::identity::v1::{GetTenantContactsRequest, Locale as ProtoLocale};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OnceCell};

/// A person to e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Address.
    pub email: String,
    /// Name.
    pub name: String,
}

/// A tenant's contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantContacts {
    /// Tenant display name.
    pub tenant_name: String,
    /// E-mail language.
    pub locale: Locale,
    /// The chief admin.
    pub chief_admin: Option<Contact>,
    /// Every active admin, the chief admin included.
    pub admins: Vec<Contact>,
}

/// Why contacts could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ContactsError {
    /// Identity is down or refused us; the caller retries later.
    #[error("tenant contacts unavailable: {0}")]
    Unavailable(String),
    /// Identity does not know the tenant; retrying will not help.
    #[error("identity does not know tenant {0}")]
    UnknownTenant(String),
}

/// A source of tenant contacts.
#[async_trait]
pub trait ContactSource: Send + Sync {
    /// The tenant's contacts.
    async fn contacts(&self, tenant_id: &str) -> Result<TenantContacts, ContactsError>;
}

/// Contacts from the identity service.
pub struct IdentityContacts {
    channel: Channel,
    credentials_file: PathBuf,
    token: OnceCell<ServiceToken>,
    cache: Mutex<HashMap<String, (Instant, TenantContacts)>>,
    /// How long fetched contacts are reused (`audit.contacts_cache_secs`).
    cache_for: Duration,
    /// The clock tokens are judged by.
    clock: keyholder_kit::clock::SharedClock,
}

impl IdentityContacts {
    /// Calls identity at `identity_url`, signing in with the credentials in
    /// `credentials_file` (read on first use: identity writes it at its first start).
    pub fn new(
        identity_url: &str,
        tls: &keyholder_kit::tls::TlsConfig,
        credentials_file: PathBuf,
        cache_for: Duration,
        clock: keyholder_kit::clock::SharedClock,
    ) -> Result<Self, keyholder_kit::client::ClientError> {
        Ok(Self {
            channel: channel(identity_url, tls)?,
            credentials_file,
            token: OnceCell::new(),
            cache: Mutex::new(HashMap::new()),
            cache_for,
            clock,
        })
    }

    async fn token(&self) -> Result<&ServiceToken, ContactsError> {
        self.token
            .get_or_try_init(|| async {
                let creds: ServiceCredentials = credentials::read(&self.credentials_file)
                    .map_err(|e| ContactsError::Unavailable(e.to_string()))?;
                Ok(ServiceToken::new(
                    self.channel.clone(),
                    creds,
                    self.clock.clone(),
                ))
            })
            .await
    }
}

#[async_trait]
impl ContactSource for IdentityContacts {
    async fn contacts(&self, tenant_id: &str) -> Result<TenantContacts, ContactsError> {
        if let Some((at, c)) = self.cache.lock().await.get(tenant_id)
            && at.elapsed() < self.cache_for
        {
            return Ok(c.clone());
        }
        let req = self
            .token()
            .await?
            .request(GetTenantContactsRequest {
                tenant_id: tenant_id.to_string(),
            })
            .await
            .map_err(|e| ContactsError::Unavailable(e.to_string()))?;
        let resp = IdentityServiceClient::new(self.channel.clone())
            .get_tenant_contacts(req)
            .await
            .map_err(|s| {
                if s.code() == tonic::Code::NotFound {
                    ContactsError::UnknownTenant(tenant_id.to_string())
                } else {
                    ContactsError::Unavailable(format!(
                        "identity answered {:?}: {}",
                        s.code(),
                        s.message()
                    ))
                }
            })?
            .into_inner();
        let contact = |c: keyholder_proto::identity::v1::Contact| Contact {
            email: c.email,
            name: c.display_name,
        };
        let contacts = TenantContacts {
            tenant_name: resp.tenant_name,
            locale: if resp.locale == ProtoLocale::Ru as i32 {
                Locale::Ru
            } else {
                Locale::En
            },
            chief_admin: resp.chief_admin.map(contact),
            admins: resp.admins.into_iter().map(contact).collect(),
        };
        self.cache
            .lock()
            .await
            .insert(tenant_id.to_string(), (Instant::now(), contacts.clone()));
        Ok(contacts)
    }
}
