//! Refusals of the standing RPCs: who may disable a service account and who
//! may follow the standing feed.

use crate::{refused, suite};
use keyholder_proto::identity::v1 as pb;
use keyholder_proto::identity::v1::standing_service_client::StandingServiceClient;
use keyholder_testkit::{bearer, local_channel};
use tonic::Code;

#[tokio::test]
async fn only_the_operator_disables_a_service_account_and_only_a_known_one() {
    let s = suite().await;
    let t = s.create_tenant("Acme", 3).await;
    let (creds, _) = s
        .create_service_account("crm", &["broker.check_access"])
        .await;
    let req = |id: &str| pb::DisableServiceAccountRequest {
        client_id: id.to_string(),
    };
    refused(
        s.identity()
            .disable_service_account(bearer(req(&creds.client_id), &t.admin_token))
            .await,
        Code::PermissionDenied,
        "only the operator",
    );
    refused(
        s.identity()
            .disable_service_account(tonic::Request::new(req(&creds.client_id)))
            .await,
        Code::Unauthenticated,
        "missing bearer token",
    );
    let op = s.operator_token().await;
    refused(
        s.identity()
            .disable_service_account(bearer(req("svc-does-not-exist"), &op))
            .await,
        Code::NotFound,
        "not found",
    );
    refused(
        s.identity()
            .disable_service_account(bearer(req(""), &op))
            .await,
        Code::InvalidArgument,
        "client_id",
    );
}

#[tokio::test]
async fn the_standing_feed_needs_the_watch_scope() {
    let mut s = keyholder_testkit::Suite::new().await;
    let addr = s.start_identity().await;
    let t = s.create_tenant("Acme", 3).await;
    let (_, without_scope) = s
        .create_service_account("reader", &["identity.users.read"])
        .await;
    let (_, watcher) = s
        .create_service_account("watcher", &["identity.standing.watch"])
        .await;
    let mut feed = StandingServiceClient::new(local_channel(addr));
    let watch = |after: u64| pb::WatchStandingRequest {
        after_sequence: after,
    };
    for token in [&t.admin_token, &without_scope] {
        refused(
            feed.watch_standing(bearer(watch(0), token)).await,
            Code::PermissionDenied,
            "identity.standing.watch",
        );
    }
    refused(
        feed.watch_standing(watch(0)).await,
        Code::Unauthenticated,
        "missing bearer token",
    );
    refused(
        feed.watch_standing(bearer(watch(u64::MAX), &watcher)).await,
        Code::InvalidArgument,
        "after_sequence",
    );
    // With the scope, the first message (a heartbeat at least) arrives.
    let first = feed
        .watch_standing(bearer(watch(0), &watcher))
        .await
        .expect("watch")
        .into_inner()
        .message()
        .await
        .expect("stream")
        .expect("a first message");
    assert!(first.head_sequence >= first.changes.last().map_or(0, |c| c.sequence));
}
