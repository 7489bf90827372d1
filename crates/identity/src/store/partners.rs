//! Partner companies and their e-mail domains: rows ↔ domain [`Partner`]s.

use super::{Store, insert, partner, partner_domain};
use crate::domain::directory::Partner;
use crate::error::Error;
use keyholder_kit::instant::{from_stored, to_stored};
use keyholder_kit::paging::Page;
use sea_orm::{
    ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

fn to_domain(m: partner::Model) -> Result<Partner, Error> {
    Ok(Partner {
        created_at: from_stored(m.created_at_us)?,
        partner_id: m.partner_id,
        name: m.name,
    })
}

impl Store {
    /// Registers a partner and its domains, atomically.
    pub async fn insert_partner(&self, p: &Partner, domains: &[String]) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
        let id = p.partner_id.clone();
        let row = partner::Model {
            partner_id: p.partner_id.clone(),
            name: p.name.clone(),
            created_at_us: to_stored(p.created_at),
        };
        insert(&txn, row).await?;
        for d in domains {
            insert(
                &txn,
                partner_domain::Model {
                    domain: d.clone(),
                    partner_id: id.clone(),
                },
            )
            .await?;
        }
        txn.commit().await
    }

    /// The partner owning an e-mail domain.
    pub async fn partner_by_domain(&self, domain: &str) -> Result<Option<Partner>, Error> {
        let Some(d) = partner_domain::Entity::find_by_id(domain.to_string())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        self.partner(&d.partner_id).await
    }

    /// Is this domain registered already?
    pub async fn domain_taken(&self, domain: &str) -> Result<bool, DbErr> {
        Ok(partner_domain::Entity::find_by_id(domain.to_string())
            .one(&self.db)
            .await?
            .is_some())
    }

    /// A page of partners with their domains.
    pub async fn list_partners(&self, page: Page) -> Result<Vec<(Partner, Vec<String>)>, Error> {
        let ps = partner::Entity::find()
            .order_by_asc(partner::Column::CreatedAtUs)
            .order_by_asc(partner::Column::PartnerId)
            .offset(page.offset)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        let mut out = Vec::with_capacity(ps.len());
        for p in ps {
            let domains = partner_domain::Entity::find()
                .filter(partner_domain::Column::PartnerId.eq(p.partner_id.as_str()))
                .order_by_asc(partner_domain::Column::Domain)
                .all(&self.db)
                .await?
                .into_iter()
                .map(|d| d.domain)
                .collect();
            out.push((to_domain(p)?, domains));
        }
        Ok(out)
    }

    /// A partner by id.
    pub async fn partner(&self, id: &str) -> Result<Option<Partner>, Error> {
        partner::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }
}
