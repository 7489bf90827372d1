//! Starting the broker service in a suite — one, or several on the same
//! database (to prove cross-broker revocation).

use crate::{Suite, ephemeral_listener};
use keyholder_broker::{Broker, BrokerHandle};
use keyholder_proto::broker::v1::broker_service_client::BrokerServiceClient;
use std::net::SocketAddr;
use tonic::transport::Channel;

/// A started broker.
pub struct StartedBroker {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Drives its sweeper directly.
    pub handle: BrokerHandle,
    /// Where it takes helpdesk webhooks (`POST /webhooks/<connector_id>`).
    pub webhook_addr: SocketAddr,
    tls: keyholder_kit::tls::TlsConfig,
}

impl StartedBroker {
    /// A client of this broker.
    pub fn client(&self) -> BrokerServiceClient<Channel> {
        BrokerServiceClient::new(crate::channel_to(self.addr, &self.tls))
    }
}

impl Suite {
    /// Starts a broker (after identity) on the suite's manual clock; the
    /// suite's `broker()` client talks to it. Set `self.config.audit.url`
    /// first to deliver events to a test receiver.
    pub async fn start_broker(&mut self) -> StartedBroker {
        let started = self.start_another_broker().await;
        self.config.broker.listen = started.addr;
        started
    }

    /// Starts one more broker on the same database and configuration (does
    /// not change which broker `broker()` talks to).
    pub async fn start_another_broker(&self) -> StartedBroker {
        let svc = Broker::prepare(&self.config, self.clock.clone())
            .await
            .expect("broker prepares");
        let handle = svc.handle();
        let (listener, addr) = ephemeral_listener().await;
        let (webhooks, webhook_addr) = ephemeral_listener().await;
        let stop = self.shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = svc
                .serve_with_webhooks(listener, Some(webhooks), stop)
                .await
            {
                eprintln!("broker stopped with error: {e}");
            }
        });
        StartedBroker {
            addr,
            handle,
            webhook_addr,
            tls: self.config.tls.clone(),
        }
    }

    /// A client of the broker started by `start_broker`.
    pub fn broker(&self) -> BrokerServiceClient<Channel> {
        BrokerServiceClient::new(self.channel(self.config.broker.listen))
    }
}
