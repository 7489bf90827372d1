//! Retry-safe mutations, the one way every service does them (ADR 0018).
//!
//! A mutation carries a client-chosen `request_id`. The first call with a
//! given (caller, rpc, request_id) *claims* it with an insert that only one
//! writer can win, acts, and stores its answer; a retry gets that answer
//! back without acting again. A retry that arrives while the first call is
//! still working is refused with `ABORTED` instead of acting a second time.
//! A call that fails releases its claim, so the retry can act.
//!
//! Each service keeps its own table (ADR 0003) in the shape
//! [`create_table`] makes.

use crate::clock::SharedClock;
use crate::error::{ErrorCode, ServiceError};
use crate::instant;
use keyholder_rights::InputError;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, StatementBuilder};
use std::future::Future;

mod schema;
pub use schema::{OldAnswers, create_index, create_table, migrate_down, migrate_up};

/// How long a claim holds before a retry may take it over (a call that
/// crashed its process mid-way never releases it).
pub const DEFAULT_LEASE: chrono::Duration = chrono::Duration::minutes(2);

/// How long answers are kept for retries.
pub const DEFAULT_RETENTION: chrono::Duration = chrono::Duration::hours(24);

/// How often a service forgets answers past their retention.
pub const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Why a retry-safe call could not go ahead.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The request id breaks the trim/length/one-line policy.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Another call with the same request id is still working.
    #[error(
        "a call with this request_id is still being processed; retry it in a moment to get its answer"
    )]
    InProgress,
    /// The stored answer no longer decodes (a release changed the message).
    #[error("the stored answer to this request_id cannot be read: {0}")]
    Unreadable(String),
    /// The table could not be read or written.
    #[error("idempotency store: {0}")]
    Db(#[from] DbErr),
}

impl ServiceError for IdempotencyError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Input(_) => ErrorCode::InvalidArgument,
            Self::InProgress => ErrorCode::Aborted,
            Self::Unreadable(_) | Self::Db(_) => ErrorCode::Internal,
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            Self::Input(_) => Some("request_id".into()),
            _ => None,
        }
    }
}

/// The table a service keeps its claims and answers in.
#[derive(Debug, Clone)]
pub struct Ledger {
    db: DatabaseConnection,
    table: &'static str,
    clock: SharedClock,
    lease: chrono::Duration,
}

/// Who asked for what.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    /// The caller's principal id.
    pub caller: &'a str,
    /// The RPC's name.
    pub rpc: &'a str,
    /// The client's request id, as sent (trimmed and checked here).
    pub request_id: &'a str,
}

#[derive(Debug, FromQueryResult)]
struct Row {
    response: Option<Vec<u8>>,
    claimed_until_us: i64,
}

enum Claim {
    Ours,
    Answered(Vec<u8>),
}

impl Ledger {
    /// Claims and answers in `table` of `db`.
    pub fn new(db: DatabaseConnection, table: &'static str, clock: SharedClock) -> Self {
        Self {
            db,
            table,
            clock,
            lease: DEFAULT_LEASE,
        }
    }

    /// Runs `work` once per key. `stored` is what the table keeps of the
    /// answer: a response carrying a secret is stored without it, so a retry
    /// gets the answer without the secret. An empty request id opts out.
    ///
    /// If the answer cannot be stored after `work` succeeded, the caller
    /// still gets it (the change has happened; failing would invite a second
    /// one) and the claim stays until its lease ends.
    pub async fn run<M, E, S, F, Fut>(&self, key: Key<'_>, stored: S, work: F) -> Result<M, E>
    where
        M: prost::Message + Default,
        E: From<IdempotencyError>,
        S: FnOnce(&M) -> Vec<u8>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<M, E>>,
    {
        let request_id = keyholder_rights::input::request_id(key.request_id.trim())
            .map_err(IdempotencyError::from)?;
        if request_id.is_empty() {
            return work().await;
        }
        let key = Key {
            request_id: &request_id,
            ..key
        };
        if let Claim::Answered(bytes) = self.claim(key).await? {
            return M::decode(bytes.as_slice())
                .map_err(|e| IdempotencyError::Unreadable(e.to_string()).into());
        }
        match work().await {
            Ok(answer) => {
                if let Err(e) = self.answer(key, stored(&answer)).await {
                    tracing::warn!(error = %e, rpc = key.rpc, "could not store the answer of a retry-safe call; a retry within the lease is refused with ABORTED");
                }
                Ok(answer)
            }
            Err(e) => {
                if let Err(db) = self.release(key).await {
                    tracing::warn!(error = %db, rpc = key.rpc, "could not release the claim of a failed call; a retry waits for the lease");
                }
                Err(e)
            }
        }
    }

    async fn claim(&self, key: Key<'_>) -> Result<Claim, IdempotencyError> {
        let now = instant::to_stored(self.clock.now());
        let until = now.saturating_add(instant::duration_to_stored(self.lease));
        let table = Alias::new(self.table);
        let insert = Query::insert()
            .into_table(table.clone())
            .columns(cols(&[
                "caller",
                "rpc",
                "request_id",
                "claimed_until_us",
                "created_at_us",
            ]))
            .values([
                key.caller.into(),
                key.rpc.into(),
                key.request_id.into(),
                until.into(),
                now.into(),
            ])
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .on_conflict(
                OnConflict::columns(cols(&["caller", "rpc", "request_id"]))
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        if self.exec(&insert).await? == 1 {
            return Ok(Claim::Ours);
        }
        let select = Query::select()
            .columns(cols(&["response", "claimed_until_us"]))
            .from(table.clone())
            .and_where(matches(key))
            .to_owned();
        let backend = self.db.get_database_backend();
        let Some(row) = Row::find_by_statement(backend.build(&select))
            .one(&self.db)
            .await?
        else {
            // Released between our insert and our read: try once more.
            return Box::pin(self.claim(key)).await;
        };
        if let Some(bytes) = row.response {
            return Ok(Claim::Answered(bytes));
        }
        if row.claimed_until_us > now {
            return Err(IdempotencyError::InProgress);
        }
        // The claimer died mid-call: take its claim over, unless another
        // retry just did.
        let take = Query::update()
            .table(table)
            .value(Alias::new("claimed_until_us"), until)
            .and_where(matches(key))
            .and_where(Expr::col(Alias::new("claimed_until_us")).eq(row.claimed_until_us))
            .and_where(Expr::col(Alias::new("response")).is_null())
            .to_owned();
        if self.exec(&take).await? == 1 {
            Ok(Claim::Ours)
        } else {
            Err(IdempotencyError::InProgress)
        }
    }

    async fn answer(&self, key: Key<'_>, bytes: Vec<u8>) -> Result<(), DbErr> {
        let update = Query::update()
            .table(Alias::new(self.table))
            .value(Alias::new("response"), bytes)
            .and_where(matches(key))
            .to_owned();
        self.exec(&update).await.map(drop)
    }

    async fn release(&self, key: Key<'_>) -> Result<(), DbErr> {
        let delete = Query::delete()
            .from_table(Alias::new(self.table))
            .and_where(matches(key))
            .and_where(Expr::col(Alias::new("response")).is_null())
            .to_owned();
        self.exec(&delete).await.map(drop)
    }

    /// Forgets answers older than `retention`; returns how many.
    pub async fn prune(&self, retention: chrono::Duration) -> Result<u64, DbErr> {
        let before = instant::to_stored(self.clock.now() - retention);
        let delete = Query::delete()
            .from_table(Alias::new(self.table))
            .and_where(Expr::col(Alias::new("created_at_us")).lt(before))
            .to_owned();
        self.exec(&delete).await
    }

    /// Prunes every `every` until `stop` (one task per service).
    pub async fn prune_until(
        self,
        retention: chrono::Duration,
        every: std::time::Duration,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            match self.prune(retention).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(table = self.table, n, "pruned old request ids"),
                Err(e) => {
                    tracing::warn!(table = self.table, error = %e, "pruning request ids failed")
                }
            }
        }
    }

    async fn exec<S: StatementBuilder>(&self, stmt: &S) -> Result<u64, DbErr> {
        Ok(self.db.execute(stmt).await?.rows_affected())
    }
}

fn cols(names: &[&str]) -> Vec<Alias> {
    names.iter().map(|n| Alias::new(*n)).collect()
}

fn matches(key: Key<'_>) -> sea_orm::sea_query::SimpleExpr {
    Expr::col(Alias::new("caller"))
        .eq(key.caller)
        .and(Expr::col(Alias::new("rpc")).eq(key.rpc))
        .and(Expr::col(Alias::new("request_id")).eq(key.request_id))
}

#[cfg(test)]
mod tests;
