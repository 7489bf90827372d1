//! Starting the audit service in a suite.

use crate::{Suite, ephemeral_listener};
use keyholder_audit::ledger::Ledger;
use keyholder_audit::mail::worker::MailWorker;
use keyholder_audit::store::Store;
use keyholder_audit::{Audit, AuditOptions};
use keyholder_proto::audit::v1::audit_service_client::AuditServiceClient;
use std::net::SocketAddr;
use tonic::transport::Channel;

/// A started audit service.
pub struct AuditHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its mailer worker (drive it with `deliver_once` when started with `manual_mail`).
    pub worker: MailWorker,
    /// Its tables, for tests that tamper with them directly.
    pub store: Store,
    /// Its chain verifier and checkpoint signer.
    pub ledger: Ledger,
}

/// Crashes an audit started by [`Suite::start_audit_crashable`].
pub struct AuditCrash(tokio::task::JoinHandle<()>);

impl AuditCrash {
    /// Ends audit as `kill -9` would, as far as the database and the data
    /// dir can tell: its tasks are dropped wherever they are (an e-mail half
    /// sent stays claimed), nothing drains, and the lock on its mailer id is
    /// let go. Returns once all of that happened.
    pub async fn crash(self) {
        self.0.abort();
        let _ = self.0.await;
    }
}

impl Suite {
    /// Starts audit (after identity) with its background mailer. Set
    /// `self.config.audit.smtp_url` first to send to a test SMTP server.
    pub async fn start_audit(&mut self) -> AuditHandle {
        self.start_audit_with(AuditOptions::default()).await
    }

    /// Starts audit with the mailer driven by the test (`handle.worker.deliver_once()`).
    pub async fn start_audit_manual_mail(&mut self) -> AuditHandle {
        self.start_audit_with(AuditOptions {
            manual_mail: true,
            ..AuditOptions::default()
        })
        .await
    }

    /// Starts audit with explicit options, on the suite's manual clock.
    pub async fn start_audit_with(&mut self, options: AuditOptions) -> AuditHandle {
        let (listener, addr) = ephemeral_listener().await;
        self.point_at_audit(addr);
        self.serve_audit(listener, addr, options).await
    }

    /// Points the other services at an audit address where nothing listens
    /// yet (audit is "down"); start it later with [`Suite::start_audit_at`].
    pub fn audit_down_at(&mut self) -> SocketAddr {
        let addr = crate::smtp::reserve_addr();
        self.point_at_audit(addr);
        addr
    }

    /// Starts audit on an address reserved by [`Suite::audit_down_at`].
    pub async fn start_audit_at(&mut self, addr: SocketAddr) -> AuditHandle {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind the reserved audit address");
        self.point_at_audit(addr);
        self.serve_audit(listener, addr, AuditOptions::default())
            .await
    }

    /// Starts audit with its background mailer, returning a switch that
    /// crashes it (see [`AuditCrash::crash`]).
    pub async fn start_audit_crashable(&mut self) -> (AuditHandle, AuditCrash) {
        let (listener, addr) = ephemeral_listener().await;
        self.point_at_audit(addr);
        let svc = Audit::prepare_with(&self.config, self.clock.clone(), AuditOptions::default())
            .await
            .expect("audit prepares");
        let handle = AuditHandle {
            addr,
            worker: svc.mail_worker(),
            store: svc.store(),
            ledger: svc.ledger(),
        };
        let stop = self.shutdown.child_token();
        let task = tokio::spawn(async move {
            if let Err(e) = svc.serve(listener, stop).await {
                eprintln!("audit stopped with error: {e}");
            }
        });
        (handle, AuditCrash(task))
    }

    fn point_at_audit(&mut self, addr: SocketAddr) {
        let url = self.url(addr);
        self.config.audit.url = url;
    }

    async fn serve_audit(
        &mut self,
        listener: tokio::net::TcpListener,
        addr: SocketAddr,
        options: AuditOptions,
    ) -> AuditHandle {
        let svc = Audit::prepare_with(&self.config, self.clock.clone(), options)
            .await
            .expect("audit prepares");
        let handle_worker = svc.mail_worker();
        let store = svc.store();
        let ledger = svc.ledger();
        let stop = self.shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = svc.serve(listener, stop).await {
                eprintln!("audit stopped with error: {e}");
            }
        });
        AuditHandle {
            addr,
            worker: handle_worker,
            store,
            ledger,
        }
    }

    /// A client of the started audit service.
    pub fn audit(&self) -> AuditServiceClient<Channel> {
        let addr = crate::addr_in(&self.config.audit.url);
        AuditServiceClient::new(self.channel(addr))
    }
}
