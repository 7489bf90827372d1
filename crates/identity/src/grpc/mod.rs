//! gRPC: proto in, rules and store, proto out. Every handler authenticates
//! first, except the public ones, which authenticate nothing (their request
//! carries its own credential): GetKeySet, SignIn, RefreshToken, SignOut,
//! IssueServiceToken and AcceptInvitation (see [`PUBLIC_METHODS`]).

mod apps;
mod authorize;
mod convert;
mod invitations;
mod org;
mod partners;
mod session;
mod sign_in;
pub mod standing;
mod tenants;
mod users;

use crate::domain::tokens::TOTP_ENROLLMENT_ONLY_SCOPE;
use crate::error::{Error, Result};
use crate::events;
use crate::keys::KeyRing;
use crate::store::Store;
use chrono::{DateTime, Utc};
use keyholder_kit::auth::Principal;
use keyholder_kit::clock::SharedClock;
use keyholder_kit::idempotency::{Key, Ledger};
use keyholder_proto::audit::v1::Event;
use keyholder_proto::identity::v1 as pb;
use keyholder_proto::identity::v1::identity_service_server::IdentityService;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Full gRPC paths of the RPCs that take no bearer token; the gate lets
/// them through (each checks its own credential: password, refresh token,
/// client secret, invitation token).
pub const PUBLIC_METHODS: &[&str] = &[
    "/keyholder.identity.v1.IdentityService/GetKeySet",
    "/keyholder.identity.v1.IdentityService/SignIn",
    "/keyholder.identity.v1.IdentityService/RefreshToken",
    "/keyholder.identity.v1.IdentityService/SignOut",
    "/keyholder.identity.v1.IdentityService/IssueServiceToken",
    "/keyholder.identity.v1.IdentityService/AcceptInvitation",
];

/// The identity service's handlers.
#[derive(Debug, Clone)]
pub struct Api {
    pub(crate) store: Store,
    keys: Arc<KeyRing>,
    clock: SharedClock,
    requests: Ledger,
}

/// SHA-256 (hex) of a service-account secret. The secrets are 256 random bits,
/// so a fast hash is enough (a slow one only protects guessable passwords).
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares without an early exit.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Api {
    /// Handlers over `store`.
    pub fn new(store: Store, keys: Arc<KeyRing>, clock: SharedClock) -> Self {
        let requests = store.request_ledger(clock.clone());
        Self {
            store,
            keys,
            clock,
            requests,
        }
    }

    /// The ledger of retry-safe calls.
    pub(crate) fn request_ledger(&self) -> &Ledger {
        &self.requests
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The audit events of a change `p` made (none outside a tenant).
    fn change(&self, p: &Principal, outcome: events::Outcome<'_>) -> Vec<Event> {
        events::of(&outcome, events::actor(p), self.now())
    }

    /// The verified caller, refused if deactivated or holding only an
    /// enrolment token.
    async fn caller<T>(&self, req: &Request<T>) -> Result<Principal> {
        let p = self.caller_for_enrollment(req).await?;
        if p.scopes.iter().any(|s| s == TOTP_ENROLLMENT_ONLY_SCOPE) {
            return Err(Error::denied(
                "this token is only good for turning on two-factor authentication: enrol TOTP, then sign in again",
            ));
        }
        Ok(p)
    }

    /// The caller the gate verified (token and live standing), enrolment-only
    /// tokens accepted.
    async fn caller_for_enrollment<T>(&self, req: &Request<T>) -> Result<Principal> {
        Ok(keyholder_kit::gate::principal(req)?)
    }

    /// Runs `work` once per (caller, rpc, request_id): a retry gets the first
    /// answer back. An empty request id opts out.
    async fn once<M, F, Fut>(&self, caller: &str, rpc: &str, request_id: &str, work: F) -> Result<M>
    where
        M: prost::Message + Default,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<M>>,
    {
        self.once_stored_as(caller, rpc, request_id, |m: &M| m.encode_to_vec(), work)
            .await
    }

    /// [`Api::once`], storing what `stored` makes of the answer: responses
    /// carrying a secret keep it out of the idempotency table, so a retry
    /// gets the answer without the secret.
    async fn once_stored_as<M, S, F, Fut>(
        &self,
        caller: &str,
        rpc: &str,
        request_id: &str,
        stored: S,
        work: F,
    ) -> Result<M>
    where
        M: prost::Message + Default,
        S: FnOnce(&M) -> Vec<u8>,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<M>>,
    {
        let key = Key {
            caller,
            rpc,
            request_id,
        };
        self.requests.run(key, stored, work).await
    }
}

macro_rules! rpcs {
    ($($rpc:ident($req:ident) -> $resp:ident = $handler:ident;)*) => {
        #[tonic::async_trait]
        impl IdentityService for Api {
            $(
                async fn $rpc(
                    &self,
                    request: Request<pb::$req>,
                ) -> std::result::Result<Response<pb::$resp>, Status> {
                    Ok(Response::new(self.$handler(request).await?))
                }
            )*
        }
    };
}

rpcs! {
    get_key_set(GetKeySetRequest) -> GetKeySetResponse = h_get_key_set;
    rotate_signing_key(RotateSigningKeyRequest) -> RotateSigningKeyResponse = h_rotate_signing_key;
    sign_in(SignInRequest) -> SignInResponse = h_sign_in;
    refresh_token(RefreshTokenRequest) -> RefreshTokenResponse = h_refresh_token;
    sign_out(SignOutRequest) -> SignOutResponse = h_sign_out;
    issue_service_token(IssueServiceTokenRequest) -> IssueServiceTokenResponse = h_issue_service_token;
    begin_totp_enrollment(BeginTotpEnrollmentRequest) -> BeginTotpEnrollmentResponse = h_begin_totp_enrollment;
    confirm_totp_enrollment(ConfirmTotpEnrollmentRequest) -> ConfirmTotpEnrollmentResponse = h_confirm_totp_enrollment;
    disable_totp(DisableTotpRequest) -> DisableTotpResponse = h_disable_totp;
    create_tenant(CreateTenantRequest) -> CreateTenantResponse = h_create_tenant;
    get_tenant(GetTenantRequest) -> GetTenantResponse = h_get_tenant;
    list_tenants(ListTenantsRequest) -> ListTenantsResponse = h_list_tenants;
    update_tenant(UpdateTenantRequest) -> UpdateTenantResponse = h_update_tenant;
    transfer_ownership(TransferOwnershipRequest) -> TransferOwnershipResponse = h_transfer_ownership;
    get_tenant_contacts(GetTenantContactsRequest) -> GetTenantContactsResponse = h_get_tenant_contacts;
    get_seat_usage(GetSeatUsageRequest) -> GetSeatUsageResponse = h_get_seat_usage;
    create_employee(CreateEmployeeRequest) -> CreateEmployeeResponse = h_create_employee;
    get_user(GetUserRequest) -> GetUserResponse = h_get_user;
    list_users(ListUsersRequest) -> ListUsersResponse = h_list_users;
    deactivate_user(DeactivateUserRequest) -> DeactivateUserResponse = h_deactivate_user;
    reactivate_user(ReactivateUserRequest) -> ReactivateUserResponse = h_reactivate_user;
    set_admin(SetAdminRequest) -> SetAdminResponse = h_set_admin;
    create_department(CreateDepartmentRequest) -> CreateDepartmentResponse = h_create_department;
    list_departments(ListDepartmentsRequest) -> ListDepartmentsResponse = h_list_departments;
    add_department_member(AddDepartmentMemberRequest) -> AddDepartmentMemberResponse = h_add_department_member;
    remove_department_member(RemoveDepartmentMemberRequest) -> RemoveDepartmentMemberResponse = h_remove_department_member;
    create_role(CreateRoleRequest) -> CreateRoleResponse = h_create_role;
    list_roles(ListRolesRequest) -> ListRolesResponse = h_list_roles;
    update_role(UpdateRoleRequest) -> UpdateRoleResponse = h_update_role;
    assign_role(AssignRoleRequest) -> AssignRoleResponse = h_assign_role;
    unassign_role(UnassignRoleRequest) -> UnassignRoleResponse = h_unassign_role;
    install_app(InstallAppRequest) -> InstallAppResponse = h_install_app;
    set_app_access(SetAppAccessRequest) -> SetAppAccessResponse = h_set_app_access;
    list_apps(ListAppsRequest) -> ListAppsResponse = h_list_apps;
    authorize(AuthorizeRequest) -> AuthorizeResponse = h_authorize;
    register_partner(RegisterPartnerRequest) -> RegisterPartnerResponse = h_register_partner;
    list_partners(ListPartnersRequest) -> ListPartnersResponse = h_list_partners;
    invite_integrator(InviteIntegratorRequest) -> InviteIntegratorResponse = h_invite_integrator;
    accept_invitation(AcceptInvitationRequest) -> AcceptInvitationResponse = h_accept_invitation;
    withdraw_invitation(WithdrawInvitationRequest) -> WithdrawInvitationResponse = h_withdraw_invitation;
    list_invitations(ListInvitationsRequest) -> ListInvitationsResponse = h_list_invitations;
    create_support_agent(CreateSupportAgentRequest) -> CreateSupportAgentResponse = h_create_support_agent;
    create_service_account(CreateServiceAccountRequest) -> CreateServiceAccountResponse = h_create_service_account;
    list_service_accounts(ListServiceAccountsRequest) -> ListServiceAccountsResponse = h_list_service_accounts;
    disable_service_account(DisableServiceAccountRequest) -> DisableServiceAccountResponse = h_disable_service_account;
}
