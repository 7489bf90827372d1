//! GetSupportAccessSettings, UpdateSupportAccessSettings.

use super::convert::{duration, mode_in, scope_in, settings_out};
use super::{caller, idempotent};
use crate::Core;
use crate::domain::Person;
use crate::domain::limits::{SettingsChange, apply_change};
use crate::error::Error;
use crate::store::settings as stored;
use keyholder_kit::auth::PrincipalKind;
use keyholder_proto::broker::v1::*;
use tonic::Request;

fn need_tenant(t: &str) -> Result<(), Error> {
    if t.is_empty() {
        return Err(Error::InvalidArgument("tenant_id is required".into()));
    }
    Ok(())
}

pub(super) async fn get(
    core: &Core,
    req: Request<GetSupportAccessSettingsRequest>,
) -> Result<GetSupportAccessSettingsResponse, Error> {
    let who = caller(core, &req).await?;
    let p = &who.0;
    let r = req.into_inner();
    need_tenant(&r.tenant_id)?;
    if p.kind != PrincipalKind::SupportAgent {
        p.require_admin_of(&r.tenant_id)?;
    }
    let s = stored::get(core.store.db(), &r.tenant_id).await?;
    Ok(GetSupportAccessSettingsResponse {
        settings: Some(settings_out(&s)),
    })
}

pub(super) async fn update(
    core: &Core,
    req: Request<UpdateSupportAccessSettingsRequest>,
) -> Result<UpdateSupportAccessSettingsResponse, Error> {
    let who = caller(core, &req).await?;
    let p = &who.0;
    let r = req.into_inner();
    need_tenant(&r.tenant_id)?;
    p.require_employee_admin_of(&r.tenant_id)?;
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
                request_ttl: duration(r.request_ttl)?,
                default_grant: duration(r.default_grant_duration)?,
                max_grant: duration(r.max_grant_duration)?,
                standing_scope,
            };
            let now = core.clock.now();
            let old = stored::get(core.store.db(), &r.tenant_id).await?;
            let new = apply_change(&old, change, &admin, now)?;
            core.store.save_settings(&old, &new, &admin, now).await?;
            Ok(UpdateSupportAccessSettingsResponse {
                settings: Some(settings_out(&new)),
            })
        },
    )
    .await
}
