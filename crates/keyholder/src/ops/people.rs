//! `keyholder tenants …` and `keyholder users …`.

use super::MAX_ROWS;
use crate::connect::{Session, refused};
use crate::output::{Record, Table, enum_name, time};
use clap::Subcommand;
use keyholder_proto::identity::v1 as pb;

/// Tenants (the operator's view).
#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Every tenant.
    List,
    /// One tenant, with its seat usage.
    Show {
        /// The tenant's id.
        tenant_id: String,
    },
}

/// People of a tenant, or the vendor's own staff.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Users of a tenant (the vendor's staff when --tenant is empty).
    List {
        /// The tenant's id; the caller's own tenant when omitted.
        #[arg(long, default_value = "")]
        tenant: String,
        /// Include deactivated people.
        #[arg(long)]
        include_inactive: bool,
    },
}

pub async fn tenants(s: &mut Session, command: TenantsCommand, json: bool) -> anyhow::Result<()> {
    match command {
        TenantsCommand::List => {
            let mut t = Table::new(&["tenant_id", "name", "locale", "seats", "created"]);
            let mut page_token = String::new();
            loop {
                let resp = s
                    .identity
                    .list_tenants(s.call(pb::ListTenantsRequest {
                        page_size: 100,
                        page_token,
                    }))
                    .await
                    .map_err(|e| refused("listing tenants", &e))?
                    .into_inner();
                for x in resp.tenants {
                    let locale = enum_name(x.locale().as_str_name(), "LOCALE_");
                    t.row(vec![
                        x.tenant_id,
                        x.name,
                        locale,
                        x.seat_limit.to_string(),
                        time(x.create_time.as_ref()),
                    ]);
                }
                page_token = resp.next_page_token;
                if page_token.is_empty() || t.len() >= MAX_ROWS {
                    break;
                }
            }
            t.print(json);
        }
        TenantsCommand::Show { tenant_id } => {
            let tenant = s
                .identity
                .get_tenant(s.call(pb::GetTenantRequest {
                    tenant_id: tenant_id.clone(),
                }))
                .await
                .map_err(|e| refused("reading the tenant", &e))?
                .into_inner()
                .tenant
                .unwrap_or_default();
            let seats = s
                .identity
                .get_seat_usage(s.call(pb::GetSeatUsageRequest { tenant_id }))
                .await
                .map_err(|e| refused("reading seat usage", &e))?
                .into_inner();
            let locale = enum_name(tenant.locale().as_str_name(), "LOCALE_");
            let policy = enum_name(
                tenant.invitation_policy().as_str_name(),
                "INVITATION_POLICY_",
            );
            Record::new()
                .field("tenant_id", tenant.tenant_id)
                .field("name", tenant.name)
                .field("locale", locale)
                .field("seats", format!("{} of {}", seats.used, seats.limit))
                .field("chief_admin_id", tenant.chief_admin_id)
                .field("invitation_policy", policy)
                .field("created", time(tenant.create_time.as_ref()))
                .print(json);
        }
    }
    Ok(())
}

pub async fn users(s: &mut Session, command: UsersCommand, json: bool) -> anyhow::Result<()> {
    let UsersCommand::List {
        tenant,
        include_inactive,
    } = command;
    let mut t = Table::new(&[
        "user_id", "email", "name", "kind", "admin", "active", "totp",
    ]);
    let mut page_token = String::new();
    loop {
        let resp = s
            .identity
            .list_users(s.call(pb::ListUsersRequest {
                tenant_id: tenant.clone(),
                page_size: 100,
                page_token,
                include_inactive,
                email: String::new(),
            }))
            .await
            .map_err(|e| refused("listing users", &e))?
            .into_inner();
        for u in resp.users {
            let admin = if u.chief_admin {
                "chief"
            } else if u.admin {
                "yes"
            } else {
                ""
            };
            t.row(vec![
                u.user_id.clone(),
                u.email.clone(),
                u.display_name.clone(),
                enum_name(u.kind().as_str_name(), "PRINCIPAL_KIND_"),
                admin.into(),
                yes_no(u.active),
                yes_no(u.totp_enabled),
            ]);
        }
        page_token = resp.next_page_token;
        if page_token.is_empty() || t.len() >= MAX_ROWS {
            break;
        }
    }
    t.print(json);
    Ok(())
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}
