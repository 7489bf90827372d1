//! Installed apps and who may use them.

use super::Api;
use super::convert::{app_pb, subject_from_pb};
use crate::domain::directory::App;
use crate::domain::validate;
use crate::error::{Error, Result};
use crate::events::Outcome;
use keyholder_kit::paging::Page;
use keyholder_proto::identity::v1 as pb;
use tonic::Request;

impl Api {
    pub(super) async fn h_install_app(
        &self,
        req: Request<pb::InstallAppRequest>,
    ) -> Result<pb::InstallAppResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let tenant_id = validate::uuid("tenant_id", &r.tenant_id)?;
        p.require_admin_of(&tenant_id)?;
        let code = validate::app_code(&r.code)?;
        self.once(&p.id, "InstallApp", &r.request_id, || async {
            if self.store.app(&tenant_id, &code).await?.is_some() {
                return Err(Error::AlreadyExists(format!(
                    "app {code} is already installed"
                )));
            }
            let a = App {
                tenant_id: tenant_id.clone(),
                code,
                installed_by: p.id.clone(),
                installed_at: self.now(),
            };
            let events = self.change(&p, Outcome::AppInstalled(&a));
            self.store.insert_app(&a, &events).await?;
            Ok(pb::InstallAppResponse {
                app: Some(app_pb(&a, &[])),
            })
        })
        .await
    }

    pub(super) async fn h_set_app_access(
        &self,
        req: Request<pb::SetAppAccessRequest>,
    ) -> Result<pb::SetAppAccessResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let tenant_id = validate::uuid("tenant_id", &r.tenant_id)?;
        p.require_admin_of(&tenant_id)?;
        let code = validate::app_code(&r.code)?;
        let mut access = Vec::with_capacity(r.access.len());
        for s in &r.access {
            let s = subject_from_pb(Some(s))?;
            self.check_subject(&tenant_id, &s).await?;
            if !access.contains(&s) {
                access.push(s);
            }
        }
        let (a, _) = self
            .store
            .app(&tenant_id, &code)
            .await?
            .ok_or_else(|| Error::not_found(format!("app {code} is not installed")))?;
        // Through `once`: a retried change must not log a second change.
        self.once(&p.id, "SetAppAccess", &r.request_id, || async {
            let events = self.change(
                &p,
                Outcome::AppAccessChanged {
                    tenant_id: &tenant_id,
                    code: &code,
                    access: &access,
                },
            );
            self.store
                .set_app_access(&tenant_id, &code, &access, &events)
                .await?;
            Ok(pb::SetAppAccessResponse {
                app: Some(app_pb(&a, &access)),
            })
        })
        .await
    }

    pub(super) async fn h_list_apps(
        &self,
        req: Request<pb::ListAppsRequest>,
    ) -> Result<pb::ListAppsResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let tenant_id = validate::uuid("tenant_id", &r.tenant_id)?;
        p.require_member_of(&tenant_id)?;
        let page = Page::parse(r.page_size, &r.page_token)?;
        let mut rows = self.store.list_apps(&tenant_id, page).await?;
        let (next, keep) = page.finish(rows.len());
        rows.truncate(keep);
        Ok(pb::ListAppsResponse {
            apps: rows.iter().map(|(a, s)| app_pb(a, s)).collect(),
            next_page_token: next,
        })
    }
}
