//! Bad input gets INVALID_ARGUMENT naming the field: NUL in an e-mail
//! address, bidi overrides and control characters in names, scopes no service
//! checks, ids that must be UUIDs, and hostile values quoted only in part.

use crate::{refused, rid, suite};
use keyholder_proto::identity::v1 as pb;
use keyholder_testkit::bearer;
use tonic::Code;
use tonic_types::StatusExt;

fn tenant_req(name: &str, email: &str) -> pb::CreateTenantRequest {
    pb::CreateTenantRequest {
        request_id: rid(),
        name: name.into(),
        seat_limit: 5,
        locale: pb::Locale::En as i32,
        chief_admin: Some(pb::ChiefAdminSpec {
            email: email.into(),
            display_name: "Chief".into(),
            password: "a long enough password".into(),
        }),
    }
}

#[tokio::test]
async fn a_nul_in_an_e_mail_address_is_refused() {
    let s = suite().await;
    let op = s.operator_token().await;
    let r = s
        .identity()
        .create_tenant(bearer(tenant_req("Acme", "a\0b@v.example"), &op))
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.message(),
        "chief_admin.email must not contain control characters"
    );
    // The field also comes as a standard google.rpc.BadRequest detail.
    let bad = e.get_details_bad_request().expect("a BadRequest detail");
    assert_eq!(bad.field_violations.len(), 1);
    assert_eq!(bad.field_violations[0].field, "chief_admin.email");
    assert_eq!(
        bad.field_violations[0].description,
        "chief_admin.email must not contain control characters"
    );
}

#[tokio::test]
async fn rules_written_by_hand_name_their_field_too() {
    let s = suite().await;
    let op = s.operator_token().await;
    let mut req = tenant_req("Acme", "chief@acme.example");
    req.seat_limit = 0;
    let e = s
        .identity()
        .create_tenant(bearer(req, &op))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.message(),
        "seat_limit must be at least 1 (the chief admin takes a seat)"
    );
    let bad = e.get_details_bad_request().expect("a BadRequest detail");
    assert_eq!(bad.field_violations[0].field, "seat_limit");
    let mut req = tenant_req("Acme", "chief@acme.example");
    req.chief_admin = None;
    let e = s
        .identity()
        .create_tenant(bearer(req, &op))
        .await
        .unwrap_err();
    assert_eq!(e.message(), "chief_admin is required");
    let bad = e.get_details_bad_request().expect("a BadRequest detail");
    assert_eq!(bad.field_violations[0].field, "chief_admin");
}

#[tokio::test]
async fn names_with_controls_or_bidi_overrides_are_refused() {
    let s = suite().await;
    let op = s.operator_token().await;
    for (name, why) in [
        (
            "hi \u{202E}gnp.exe",
            "name must not contain bidirectional text controls",
        ),
        ("Acme\0", "name must not contain control characters"),
        ("Acme\u{7}", "name must not contain control characters"),
        (
            "Acme\r\nBcc: x@v.example",
            "name must not contain control characters",
        ),
    ] {
        let e = s
            .identity()
            .create_tenant(bearer(tenant_req(name, "chief@acme.example"), &op))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{name:?}");
        assert_eq!(e.message(), why, "{name:?}");
    }
    let t = s.create_tenant("Acme", 5).await;
    let e = s
        .identity()
        .create_employee(bearer(
            pb::CreateEmployeeRequest {
                request_id: rid(),
                tenant_id: t.tenant_id.clone(),
                email: "ann@acme.example".into(),
                display_name: "Ann \u{202E}nimda".into(),
                password: "a long enough password".into(),
                department_ids: vec![],
            },
            &t.admin_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.message(),
        "display_name must not contain bidirectional text controls"
    );
}

#[tokio::test]
async fn unknown_scopes_are_refused() {
    let s = suite().await;
    let op = s.operator_token().await;
    let e = s
        .identity()
        .create_service_account(bearer(
            pb::CreateServiceAccountRequest {
                request_id: rid(),
                name: "root".into(),
                scopes: vec!["broker.check_access".into(), "root.everything".into()],
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message()
            .starts_with("scope \"root.everything\" is not known; known scopes are "),
        "{}",
        e.message()
    );
}

#[tokio::test]
async fn tenant_ids_must_be_uuids_and_hostile_values_are_cut_short() {
    let s = suite().await;
    let op = s.operator_token().await;
    refused(
        s.identity()
            .get_tenant(bearer(
                pb::GetTenantRequest {
                    tenant_id: "not-a-uuid".into(),
                },
                &op,
            ))
            .await,
        Code::InvalidArgument,
        "tenant_id must be a UUID",
    );
    let sql = format!("x' OR '1'='1'; DROP TABLE users; --{}", "A".repeat(5000));
    for id in [sql.as_str(), &sql[..150]] {
        let e = s
            .identity()
            .get_tenant(bearer(
                pb::GetTenantRequest {
                    tenant_id: id.into(),
                },
                &op,
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().len() < 100, "{}", e.message());
        assert!(!e.message().contains("AAAAAAAAAAAAAAA"), "{}", e.message());
    }
}
