//! The seat limit and the 10-integrators-per-partner limit hold under
//! concurrent calls: the count, the check and the insert are atomic per
//! tenant (SQLite and PostgreSQL).

use crate::receiver::Ctx;
use crate::*;

/// Splits results into successes and refusals, checking every refusal.
fn tally<T>(results: Vec<Result<T, tonic::Status>>, words: &str) -> (usize, usize) {
    let mut ok = 0;
    let mut refused_n = 0;
    for r in results {
        match r {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
                assert!(e.message().contains(words), "{}", e.message());
                refused_n += 1;
            }
        }
    }
    (ok, refused_n)
}

#[tokio::test]
async fn concurrent_hires_never_exceed_the_seat_limit() {
    // Audit stays down, so the outbox shows exactly what was committed.
    let c = Ctx::down().await;
    let s = &c.s;
    // The chief admin takes one of the four seats: three are free.
    let t = s.create_tenant("Busy", 4).await;
    let calls = (0..6).map(|i| {
        call!(
            s,
            create_employee,
            bearer(
                pb::CreateEmployeeRequest {
                    request_id: rid(),
                    tenant_id: t.tenant_id.clone(),
                    email: format!("hire{i}@busy.example"),
                    display_name: format!("Hire {i}"),
                    password: "a-long-enough-password".into(),
                    department_ids: vec![],
                },
                &t.admin_token
            )
        )
    });
    let results = futures_join_all(calls).await;
    assert_eq!(tally(results, "seat limit reached"), (3, 3));
    let usage = s
        .identity()
        .get_seat_usage(bearer(
            pb::GetSeatUsageRequest {
                tenant_id: t.tenant_id.clone(),
            },
            &t.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((usage.used, usage.limit), (4, 4));
    // tenant_created plus one employee_created per hire that succeeded.
    assert_eq!(c.handle.undelivered_events().await.unwrap(), 4);
}

#[tokio::test]
async fn concurrent_invitations_never_exceed_ten_per_partner() {
    let c = Ctx::down().await;
    let s = &c.s;
    let t = s.create_tenant("Popular", 5).await;
    s.register_partner("Crowd", &["crowd.example"]).await;
    let calls = (0..12).map(|i| {
        call!(
            s,
            invite_integrator,
            bearer(
                pb::InviteIntegratorRequest {
                    request_id: rid(),
                    tenant_id: t.tenant_id.clone(),
                    email: format!("dev{i}@crowd.example"),
                    display_name: format!("Dev {i}"),
                    ..Default::default()
                },
                &t.admin_token
            )
        )
    });
    let results = futures_join_all(calls).await;
    assert_eq!(tally(results, "at most 10"), (10, 2));
    assert_eq!(c.handle.undelivered_events().await.unwrap(), 11);
}

/// Runs futures concurrently (spawned, so they truly overlap) and collects
/// their results in order.
async fn futures_join_all<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
