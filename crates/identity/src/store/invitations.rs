//! Integrator invitations: rows ↔ domain [`Invitation`]s, and the writes that
//! must be atomic with the partner limit (inviting, accepting).

use super::users::{check_limit, write_user};
use super::{Limit, Store, Write, insert, invitation, page_of, user};
use crate::domain::invitations::{Invitation, Status};
use crate::domain::people::User;
use crate::error::Error;
use chrono::{DateTime, Utc};
use keyholder_kit::instant::{from_stored, to_stored};
use keyholder_kit::paging::Page;
use keyholder_proto::audit::v1::Event;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

/// A row as the domain sees it.
fn to_domain(m: invitation::Model) -> Result<Invitation, Error> {
    let status = Status::parse(&m.state).ok_or_else(|| {
        Error::internal(format!(
            "invitation {} has unknown state {}",
            m.invitation_id, m.state
        ))
    })?;
    Ok(Invitation {
        created_at: from_stored(m.created_at_us)?,
        expire_at: from_stored(m.expire_at_us)?,
        closed_at: m.closed_at_us.map(from_stored).transpose()?,
        id: m.invitation_id,
        tenant_id: m.tenant_id,
        partner_id: m.partner_id,
        email: m.email,
        display_name: m.display_name,
        inviter_id: m.inviter_id,
        token_hash: m.token_hash,
        status,
        user_id: m.user_id,
    })
}

/// The row of an invitation.
fn to_model(i: &Invitation) -> invitation::Model {
    invitation::Model {
        invitation_id: i.id.clone(),
        tenant_id: i.tenant_id.clone(),
        partner_id: i.partner_id.clone(),
        email: i.email.clone(),
        display_name: i.display_name.clone(),
        inviter_id: i.inviter_id.clone(),
        token_hash: i.token_hash.clone(),
        state: i.status.as_str().into(),
        user_id: i.user_id.clone(),
        created_at_us: to_stored(i.created_at),
        expire_at_us: to_stored(i.expire_at),
        closed_at_us: i.closed_at.map(to_stored),
    }
}

/// Moves a pending, unexpired invitation to `to`'s status, only if it still
/// is pending at `now`: a concurrent accept or withdraw makes this refuse.
async fn close<C: ConnectionTrait>(
    conn: &C,
    to: &Invitation,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let done = invitation::Entity::update_many()
        .col_expr(invitation::Column::State, Expr::value(to.status.as_str()))
        .col_expr(invitation::Column::UserId, Expr::value(to.user_id.clone()))
        .col_expr(
            invitation::Column::ClosedAtUs,
            Expr::value(to.closed_at.map(to_stored)),
        )
        .filter(invitation::Column::InvitationId.eq(to.id.as_str()))
        .filter(invitation::Column::State.eq(Status::Pending.as_str()))
        .filter(invitation::Column::ExpireAtUs.gt(to_stored(now)))
        .exec(conn)
        .await?;
    if done.rows_affected != 1 {
        return Err(Error::precondition(
            "this invitation is no longer pending (accepted, withdrawn or expired meanwhile)",
        ));
    }
    Ok(())
}

impl Store {
    /// Stores a new invitation with its events, if its partner still has a
    /// place in the tenant and the e-mail is neither a user of the tenant nor
    /// invited already: checks and insert under the tenant's lock, so
    /// concurrent invitations never overshoot the limit.
    pub async fn insert_invitation(
        &self,
        inv: &Invitation,
        partner_name: &str,
        events: &[Event],
    ) -> Result<(), Error> {
        let now = inv.created_at;
        let txn = self.begin_write().await?;
        let t = self.locked_tenant(&txn, &inv.tenant_id).await?;
        if let Some(u) = user::Entity::find()
            .filter(user::Column::TenantId.eq(inv.tenant_id.as_str()))
            .filter(user::Column::Email.eq(inv.email.as_str()))
            .one(&txn)
            .await?
        {
            let hint = if u.active {
                ""
            } else {
                " (deactivated: re-hire them with ReactivateUser)"
            };
            return Err(Error::AlreadyExists(format!(
                "a user with e-mail {} already exists in this tenant{hint}",
                inv.email
            )));
        }
        let pending = invitation::Entity::find()
            .filter(invitation::Column::TenantId.eq(inv.tenant_id.as_str()))
            .filter(invitation::Column::Email.eq(inv.email.as_str()))
            .filter(invitation::Column::State.eq(Status::Pending.as_str()))
            .filter(invitation::Column::ExpireAtUs.gt(to_stored(now)))
            .one(&txn)
            .await?;
        if let Some(p) = pending {
            return Err(Error::AlreadyExists(format!(
                "{} already has a pending invitation ({}); withdraw it before inviting again",
                inv.email, p.invitation_id
            )));
        }
        check_limit(
            &txn,
            &t,
            Limit::Partner {
                partner_id: &inv.partner_id,
                partner_name,
                now,
            },
        )
        .await?;
        insert(&txn, to_model(inv)).await?;
        self.commit_with(txn, events).await?;
        Ok(())
    }

    /// Records an accepted invitation (`accepted`, already moved by the
    /// domain) and creates its integrator `u`, with events. The invitation
    /// leaves the pending count as the user joins the active one, both under
    /// the tenant's lock, so the partner's limit is checked once more here
    /// (a dismissed colleague may have been re-hired meanwhile).
    pub async fn accept_invitation(
        &self,
        accepted: &Invitation,
        u: &User,
        partner_name: &str,
        events: &[Event],
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        let t = self.locked_tenant(&txn, &accepted.tenant_id).await?;
        close(&txn, accepted, now).await?;
        check_limit(
            &txn,
            &t,
            Limit::Partner {
                partner_id: &accepted.partner_id,
                partner_name,
                now,
            },
        )
        .await?;
        write_user(&txn, u, Write::Insert(&[]), now).await?;
        self.commit_with(txn, events).await?;
        Ok(())
    }

    /// Records a withdrawn invitation (`withdrawn`, already moved by the
    /// domain), with events.
    pub async fn withdraw_invitation(
        &self,
        withdrawn: &Invitation,
        events: &[Event],
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        close(&txn, withdrawn, now).await?;
        self.commit_with(txn, events).await?;
        Ok(())
    }

    /// An invitation by id.
    pub async fn invitation(&self, id: &str) -> Result<Option<Invitation>, Error> {
        invitation::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }

    /// The invitation whose token hashes to `token_hash`.
    pub async fn invitation_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<Invitation>, Error> {
        invitation::Entity::find()
            .filter(invitation::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }

    /// A page of a tenant's invitations, oldest first: only those pending at
    /// `now` unless `include_closed`.
    pub async fn list_invitations(
        &self,
        tenant_id: &str,
        include_closed: bool,
        now: DateTime<Utc>,
        page: Page,
    ) -> Result<Vec<Invitation>, Error> {
        let mut q = invitation::Entity::find().filter(invitation::Column::TenantId.eq(tenant_id));
        if !include_closed {
            q = q
                .filter(invitation::Column::State.eq(Status::Pending.as_str()))
                .filter(invitation::Column::ExpireAtUs.gt(to_stored(now)));
        }
        let q = q
            .order_by_asc(invitation::Column::CreatedAtUs)
            .order_by_asc(invitation::Column::InvitationId);
        page_of(&self.db, q, page, to_domain).await
    }
}
