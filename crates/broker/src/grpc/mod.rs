//! The gRPC surface: each handler checks the caller first, then translates
//! protobuf → domain/store call → protobuf.

mod check;
mod convert;
mod grants;
mod helpdesk;
pub(crate) mod requests;
mod sessions;

pub(crate) use sessions::AGENT_DEACTIVATED;
mod settings;
mod visibility;

use crate::Core;
use crate::error::Error;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyholder_kit::auth::Principal;
use keyholder_proto::broker::v1::broker_service_server::BrokerService;
use keyholder_proto::broker::v1::*;
use prost::Message;
use std::future::Future;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The BrokerService implementation.
pub(crate) struct BrokerApi {
    core: Arc<Core>,
}

impl BrokerApi {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

/// The caller the gate verified (token and live standing), with its
/// token's `exp`.
pub(crate) fn caller<T>(req: &Request<T>) -> Result<Arc<(Principal, i64)>, Error> {
    Ok(keyholder_kit::gate::caller(req)?)
}

/// Runs a mutation once per (caller, rpc, request_id): a retry gets the first
/// answer back.
pub(crate) async fn idempotent<R, F>(
    core: &Core,
    caller: &str,
    rpc: &str,
    request_id: &str,
    f: F,
) -> Result<R, Error>
where
    R: Message + Default,
    F: Future<Output = Result<R, Error>>,
{
    use crate::store::idempotency;
    let request_id = crate::domain::input::request_id(request_id)?;
    if request_id.is_empty() {
        return f.await;
    }
    let request_id = request_id.as_str();
    if let Some(bytes) = idempotency::get(core.store.db(), caller, rpc, request_id).await? {
        return R::decode(bytes.as_slice()).map_err(|e| Error::Internal(e.to_string()));
    }
    let r = f.await?;
    idempotency::put(
        core.store.db(),
        caller,
        rpc,
        request_id,
        r.encode_to_vec(),
        core.now().timestamp_millis(),
    )
    .await?;
    Ok(r)
}

/// Random bytes, URL-safe base64.
pub(crate) fn random_token(bytes: usize) -> Result<String, Error> {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| Error::Internal("no randomness".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// Hex SHA-256 (how credentials and refresh tokens are stored).
pub(crate) fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

macro_rules! rpcs {
    ($($name:ident => $module:ident :: $func:ident ($in:ty) -> $out:ty;)*) => {
        #[async_trait::async_trait]
        impl BrokerService for BrokerApi {
            $(
                async fn $name(&self, request: Request<$in>) -> Result<Response<$out>, Status> {
                    $module::$func(&self.core, request)
                        .await
                        .map(Response::new)
                        .map_err(Status::from)
                }
            )*
        }
    };
}

rpcs! {
    get_support_access_settings => settings::get(GetSupportAccessSettingsRequest) -> GetSupportAccessSettingsResponse;
    update_support_access_settings => settings::update(UpdateSupportAccessSettingsRequest) -> UpdateSupportAccessSettingsResponse;
    create_access_request => requests::create(CreateAccessRequestRequest) -> CreateAccessRequestResponse;
    get_access_request => requests::get(GetAccessRequestRequest) -> GetAccessRequestResponse;
    list_access_requests => requests::list(ListAccessRequestsRequest) -> ListAccessRequestsResponse;
    approve_access_request => requests::approve(ApproveAccessRequestRequest) -> ApproveAccessRequestResponse;
    deny_access_request => requests::deny(DenyAccessRequestRequest) -> DenyAccessRequestResponse;
    get_grant => grants::get(GetGrantRequest) -> GetGrantResponse;
    list_grants => grants::list(ListGrantsRequest) -> ListGrantsResponse;
    extend_grant => grants::extend(ExtendGrantRequest) -> ExtendGrantResponse;
    revoke_grant => grants::revoke(RevokeGrantRequest) -> RevokeGrantResponse;
    issue_grant_credential => grants::issue_credential(IssueGrantCredentialRequest) -> IssueGrantCredentialResponse;
    close_ticket => grants::close_ticket(CloseTicketRequest) -> CloseTicketResponse;
    create_helpdesk_connector => helpdesk::create_connector(CreateHelpdeskConnectorRequest) -> CreateHelpdeskConnectorResponse;
    list_helpdesk_connectors => helpdesk::list_connectors(ListHelpdeskConnectorsRequest) -> ListHelpdeskConnectorsResponse;
    delete_helpdesk_connector => helpdesk::delete_connector(DeleteHelpdeskConnectorRequest) -> DeleteHelpdeskConnectorResponse;
    create_webhook_subscription => helpdesk::create_subscription(CreateWebhookSubscriptionRequest) -> CreateWebhookSubscriptionResponse;
    list_webhook_subscriptions => helpdesk::list_subscriptions(ListWebhookSubscriptionsRequest) -> ListWebhookSubscriptionsResponse;
    delete_webhook_subscription => helpdesk::delete_subscription(DeleteWebhookSubscriptionRequest) -> DeleteWebhookSubscriptionResponse;
    list_webhook_deliveries => helpdesk::list_deliveries(ListWebhookDeliveriesRequest) -> ListWebhookDeliveriesResponse;
    sign_in_to_tenant => sessions::sign_in(SignInToTenantRequest) -> SignInToTenantResponse;
    refresh_support_session => sessions::refresh(RefreshSupportSessionRequest) -> RefreshSupportSessionResponse;
    sign_out_of_tenant => sessions::sign_out(SignOutOfTenantRequest) -> SignOutOfTenantResponse;
    list_support_sessions => sessions::list(ListSupportSessionsRequest) -> ListSupportSessionsResponse;
    check_access => check::check_access(CheckAccessRequest) -> CheckAccessResponse;
    check_access_batch => check::check_access_batch(CheckAccessBatchRequest) -> CheckAccessBatchResponse;
    report_action => check::report_action(ReportActionRequest) -> ReportActionResponse;
}
