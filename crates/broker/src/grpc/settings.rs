//! GetSupportAccessSettings, UpdateSupportAccessSettings.

use super::convert::{duration, mode_in, scope_in, settings_out};
use super::visibility::{require_admin, require_capability, require_tenant_exists};
use super::{caller, idempotent};
use crate::Core;
use crate::domain::limits::{SettingsChange, apply_change};
use crate::domain::{Person, input};
use crate::error::Error;
use keyholder_kit::auth::PrincipalKind;
use keyholder_proto::broker::v1::*;
use keyholder_rights::Capability;
use tonic::Request;

pub(super) async fn get(
    core: &Core,
    req: Request<GetSupportAccessSettingsRequest>,
) -> Result<GetSupportAccessSettingsResponse, Error> {
    let who = caller(&req)?;
    let p = &who.0;
    let r = req.into_inner();
    let tenant_id = input::tenant_id(&r.tenant_id)?;
    let agent = p.kind == PrincipalKind::SupportAgent;
    if agent {
        // Agents may ask about any tenant, so they learn only whether it
        // exists; the defaults of a made-up id are not shown as if it did.
        require_tenant_exists(core, &tenant_id).await?;
    } else {
        require_admin(p, &tenant_id)?;
    }
    let s = core.store.settings(&tenant_id).await?;
    let mut out = settings_out(&s);
    if agent {
        // An agent needs to know whether and how it may enter, nothing of
        // the tenant's limits, standing scope or who changed them.
        out = SupportAccessSettings {
            tenant_id: out.tenant_id,
            mode: out.mode,
            ..SupportAccessSettings::default()
        };
    }
    Ok(GetSupportAccessSettingsResponse {
        settings: Some(out),
    })
}

pub(super) async fn update(
    core: &Core,
    req: Request<UpdateSupportAccessSettingsRequest>,
) -> Result<UpdateSupportAccessSettingsResponse, Error> {
    let who = caller(&req)?;
    let p = &who.0;
    let mut r = req.into_inner();
    r.tenant_id = input::tenant_id(&r.tenant_id)?;
    require_capability(p, &r.tenant_id, Capability::ChangeSupportAccess)?;
    // A live token can outlast its tenant; no settings row for a tenant
    // identity no longer knows.
    require_tenant_exists(core, &r.tenant_id).await?;
    let admin = Person {
        id: p.id.clone(),
        name: p.display_name.clone(),
        email: p.email.clone(),
    };
    idempotent(
        core,
        &p.id,
        "UpdateSupportAccessSettings",
        &r.request_id,
        async {
            let standing_scope = match r.standing_scope {
                Some(s) => {
                    let scope = scope_in(Some(s))?;
                    let rights = core
                        .identity
                        .role_rights(&r.tenant_id, &scope.roles)
                        .await?;
                    Some(scope.resolve(rights))
                }
                None => None,
            };
            let change = SettingsChange {
                mode: r.mode.map(mode_in).transpose()?,
                request_ttl: duration("request_ttl", r.request_ttl)?,
                default_grant: duration("default_grant_duration", r.default_grant_duration)?,
                max_grant: duration("max_grant_duration", r.max_grant_duration)?,
                standing_scope,
            };
            let now = core.now();
            let old = core.store.settings(&r.tenant_id).await?;
            let new = apply_change(&old, change, &admin, now)?;
            core.store.save_settings(&old, &new, &admin, now).await?;
            Ok(UpdateSupportAccessSettingsResponse {
                settings: Some(settings_out(&new)),
            })
        },
    )
    .await
}
