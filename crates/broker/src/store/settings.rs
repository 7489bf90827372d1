//! A tenant's support-access settings.

use super::ending::end_grant;
use super::entities::{grants, settings};
use super::grants::all_from;
use super::rows::{scope_from, scope_json};
use super::{Ended, Store, push};
use crate::domain::grant::EndCause;
use crate::domain::limits::{SUPPORT_ACCESS_CLOSED, Settings};
use crate::domain::state::GrantState;
use crate::domain::{Mode, Person};
use crate::error::Error;
use crate::events;
use chrono::{DateTime, Duration, Utc};
use keyholder_kit::instant::{from_stored, to_stored};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};

fn to_domain(m: settings::Model) -> Result<Settings, Error> {
    Ok(Settings {
        mode: Mode::parse(&m.mode),
        request_ttl: Duration::seconds(m.request_ttl_secs),
        default_grant: Duration::seconds(m.default_grant_secs),
        max_grant: Duration::seconds(m.max_grant_secs),
        standing_scope: scope_from(&m.standing_scope)?,
        standing_by: Person {
            id: m.standing_by_id,
            name: m.standing_by_name,
            email: m.standing_by_email,
        },
        updated_by: m.updated_by,
        updated_at: Some(from_stored(m.updated_at_us)?),
        tenant_id: m.tenant_id,
    })
}

fn to_model(s: &Settings, now: DateTime<Utc>) -> Result<settings::Model, Error> {
    Ok(settings::Model {
        tenant_id: s.tenant_id.clone(),
        mode: s.mode.as_str().into(),
        request_ttl_secs: s.request_ttl.num_seconds(),
        default_grant_secs: s.default_grant.num_seconds(),
        max_grant_secs: s.max_grant.num_seconds(),
        standing_scope: scope_json(&s.standing_scope)?,
        standing_by_id: s.standing_by.id.clone(),
        standing_by_name: s.standing_by.name.clone(),
        standing_by_email: s.standing_by.email.clone(),
        updated_by: s.updated_by.clone(),
        updated_at_us: to_stored(s.updated_at.unwrap_or(now)),
    })
}

/// A tenant's settings (defaults when never set).
pub async fn get<C: ConnectionTrait>(conn: &C, tenant_id: &str) -> Result<Settings, Error> {
    settings::Entity::find_by_id(tenant_id.to_string())
        .one(conn)
        .await?
        .map(to_domain)
        .unwrap_or_else(|| Ok(Settings::defaults(tenant_id)))
}

impl Store {
    /// A tenant's settings (defaults when never set).
    pub async fn settings(&self, tenant_id: &str) -> Result<Settings, Error> {
        get(self.db(), tenant_id).await
    }

    /// Saves new settings and records the change. Closing support access
    /// ends everything that could still let support in: pending requests are
    /// cancelled, every active grant is revoked (with it its unused one-time
    /// credential, which only an active grant honours) and its live sessions
    /// end, all with reason `support-access-closed`. Leaving standing mode
    /// revokes the standing grants (they exist only while it is on).
    pub async fn save_settings(
        &self,
        old: &Settings,
        new: &Settings,
        admin: &Person,
        now: DateTime<Utc>,
    ) -> Result<Ended, Error> {
        let txn = self.begin().await?;
        let cols = [
            settings::Column::Mode,
            settings::Column::RequestTtlSecs,
            settings::Column::DefaultGrantSecs,
            settings::Column::MaxGrantSecs,
            settings::Column::StandingScope,
            settings::Column::StandingById,
            settings::Column::StandingByName,
            settings::Column::StandingByEmail,
            settings::Column::UpdatedBy,
            settings::Column::UpdatedAtUs,
        ];
        settings::Entity::insert(to_model(new, now)?.into_active_model())
            .on_conflict(
                OnConflict::column(settings::Column::TenantId)
                    .update_columns(cols)
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        push(&txn, &events::settings_changed(old, new, admin, now), now).await?;

        let mut ended = Ended::default();
        let closing = new.mode == Mode::Closed && old.mode != Mode::Closed;
        let leaving_standing = old.mode == Mode::Standing && new.mode != Mode::Standing;
        if closing || leaving_standing {
            let mut q = grants::Entity::find()
                .filter(grants::Column::TenantId.eq(&new.tenant_id))
                .filter(grants::Column::State.eq(GrantState::Active.as_str()));
            if !closing {
                q = q.filter(grants::Column::Standing.eq(true));
            }
            let (cause, why) = if closing {
                (EndCause::SupportAccessClosed, SUPPORT_ACCESS_CLOSED)
            } else {
                (EndCause::Revoked, "standing access was turned off")
            };
            for g in all_from(q.all(&txn).await?)? {
                let x = g.end(&admin.id, cause, why.into(), now)?;
                let actor = events::actor(admin, "employee");
                end_grant(&txn, self.is_postgres(), &x, actor, now, &mut ended).await?;
            }
        }
        if closing {
            Self::cancel_pending_requests(
                &txn,
                &new.tenant_id,
                None,
                &events::actor(admin, "employee"),
                SUPPORT_ACCESS_CLOSED,
                now,
            )
            .await?;
        }
        self.commit(txn, &ended).await?;
        Ok(ended)
    }
}
