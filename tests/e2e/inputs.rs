//! Bad input at the kit level gets a clear answer from every service: a
//! crafted page token, bytes that are not a protobuf message, a message over
//! the size limit. No panic, no echo, no INTERNAL for the caller's mistake.

use crate::flows::World;
use keyholder_proto::audit::v1 as audit;
use keyholder_proto::broker::v1 as broker;
use keyholder_proto::identity::v1 as identity;
use keyholder_testkit::raw_rpc::Raw;
use keyholder_testkit::{bearer, local_channel};
use tonic::{Code, Status};

/// base64url of `o:18446744073709551615`: once made a worker panic in
/// sea-query's SQLite binding.
const CRAFTED: &str = "bzoxODQ0Njc0NDA3MzcwOTU1MTYxNQ";
const BAD_TOKEN: &str = "page_token is not valid; pass the next_page_token of the previous page";

fn assert_bad_token(result: Result<(), Status>, rpc: &str) {
    let status = result.expect_err(rpc);
    assert_eq!(status.code(), Code::InvalidArgument, "{rpc}: {status:?}");
    assert_eq!(status.message(), BAD_TOKEN, "{rpc}");
}

#[tokio::test]
async fn a_crafted_page_token_is_refused_by_every_list() {
    let w = World::start("Paging Ltd", identity::Locale::En).await;
    let operator = w.suite.operator_token().await;
    let r = w
        .suite
        .identity()
        .list_tenants(bearer(
            identity::ListTenantsRequest {
                page_size: 10,
                page_token: CRAFTED.into(),
            },
            &operator,
        ))
        .await;
    assert_bad_token(r.map(drop), "ListTenants");
    let r = w
        .suite
        .broker()
        .list_access_requests(bearer(
            broker::ListAccessRequestsRequest {
                tenant_id: w.tenant.tenant_id.clone(),
                page_size: 10,
                page_token: CRAFTED.into(),
                ..Default::default()
            },
            &w.tenant.admin_token,
        ))
        .await;
    assert_bad_token(r.map(drop), "ListAccessRequests");
    let r = w
        .suite
        .audit()
        .list_events(bearer(
            audit::ListEventsRequest {
                tenant_id: w.tenant.tenant_id.clone(),
                page_size: 10,
                page_token: CRAFTED.into(),
                ..Default::default()
            },
            &w.tenant.admin_token,
        ))
        .await;
    assert_bad_token(r.map(drop), "ListEvents");
    // The services are still there after it.
    w.suite
        .identity()
        .list_tenants(bearer(identity::ListTenantsRequest::default(), &operator))
        .await
        .expect("identity still answers");
}

/// Calls `path` on `addr` with `bytes` as the message and `token` as bearer.
async fn raw_call(
    addr: std::net::SocketAddr,
    path: &'static str,
    bytes: Vec<u8>,
    token: &str,
) -> Status {
    let mut grpc = tonic::client::Grpc::new(local_channel(addr));
    grpc.ready().await.expect("channel ready");
    grpc.unary(
        bearer(bytes, token),
        http::uri::PathAndQuery::from_static(path),
        Raw,
    )
    .await
    .expect_err("the call is refused")
}

fn addr_of(url: &str) -> std::net::SocketAddr {
    keyholder_testkit::addr_in(url)
}

#[tokio::test]
async fn undecodable_and_oversized_messages_get_plain_answers() {
    let w = World::start("Bytes Ltd", identity::Locale::En).await;
    let operator = w.suite.operator_token().await;
    let cfg = &w.suite.config;
    let calls = [
        (
            addr_of(&cfg.identity.url),
            "/keyholder.identity.v1.IdentityService/ListTenants",
            &operator,
        ),
        (
            cfg.broker.listen,
            "/keyholder.broker.v1.BrokerService/ListAccessRequests",
            &w.tenant.admin_token,
        ),
        (
            addr_of(&cfg.audit.url),
            "/keyholder.audit.v1.AuditService/ListEvents",
            &w.tenant.admin_token,
        ),
    ];
    for (addr, path, token) in calls {
        // Field 1 with wire type 7, which does not exist.
        let s = raw_call(addr, path, vec![0x0f, 0xff, 0xff], token).await;
        assert_eq!(s.code(), Code::InvalidArgument, "{path}: {s:?}");
        assert_eq!(s.message(), "the request message could not be decoded");

        let big = vec![0u8; keyholder_kit::transport_status::MAX_REQUEST_BYTES + 1];
        let s = raw_call(addr, path, big, token).await;
        assert_eq!(s.code(), Code::ResourceExhausted, "{path}: {s:?}");
        assert_eq!(
            s.message(),
            format!(
                "the request message is larger than the limit of {} bytes",
                keyholder_kit::transport_status::MAX_REQUEST_BYTES
            )
        );
    }
}
