//! An open-loop generator: request `i` is due at `start + i / rate` whatever
//! happened to the ones before, and its latency is counted from that due
//! time, so a server that stalls is charged for every request it delayed
//! (no coordinated omission). By default the wait for the due time sleeps on
//! the timer until shortly before it and then spins, since tokio's timer
//! only has millisecond steps: the generator's core is busy by design.
//! [`Pacing::Sleep`] leaves that core free for servers that share it, and
//! sends each millisecond's requests together.

use crate::codec::Opaque;
use bytes::Bytes;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};

/// What to send, how fast, for how long.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `http://host:port`.
    pub target: String,
    /// `/package.Service/Method`.
    pub method: String,
    /// The encoded request message.
    pub body: Bytes,
    /// gRPC metadata sent with every request.
    pub headers: Vec<(String, String)>,
    /// Requests per second.
    pub rate: f64,
    /// How long to record.
    pub duration: Duration,
    /// How long to send before recording, at the same rate.
    pub warmup: Duration,
    /// HTTP/2 connections, used round-robin.
    pub connections: usize,
    /// Most requests in flight; beyond it sending waits (and the wait counts).
    pub max_in_flight: usize,
    /// How long to wait for stragglers after the last send.
    pub drain: Duration,
    /// How the generator waits for each due time.
    pub pacing: Pacing,
}

/// How the generator waits for a request's due time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Pacing {
    /// Sleep until shortly before it, then spin: sub-millisecond sends for
    /// latency, at the cost of the generator's core.
    #[default]
    Spin,
    /// Sleep on the timer only (millisecond steps, so requests leave in
    /// bursts of a millisecond's worth): for throughput phases where the
    /// servers share the generator's core. Latency still counts from each
    /// request's own due time.
    Sleep,
}

/// What came back.
#[derive(Debug)]
pub struct Report {
    /// Recorded requests sent.
    pub sent: u64,
    /// ... answered OK.
    pub ok: u64,
    /// ... answered otherwise, by gRPC code.
    pub errors: BTreeMap<String, u64>,
    /// ... not answered within the drain.
    pub incomplete: u64,
    /// Due time to answer, µs, OK answers only.
    pub latency: Histogram<u64>,
    /// Actual send to answer, µs.
    pub service: Histogram<u64>,
    /// Due time to actual send, µs: the generator's own health.
    pub send_lag: Histogram<u64>,
    /// OK answers per second, from the first recorded due time to the last
    /// answer: what the server sustained, however far behind it fell.
    pub ok_per_sec: f64,
}

#[derive(Debug)]
struct Tally {
    ok: u64,
    done: u64,
    last_done: Option<Instant>,
    errors: BTreeMap<String, u64>,
    latency: Histogram<u64>,
    service: Histogram<u64>,
    send_lag: Histogram<u64>,
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    // 1 µs to 60 s, three significant digits.
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

fn metadata(headers: &[(String, String)]) -> anyhow::Result<MetadataMap> {
    let mut m = MetadataMap::new();
    for (k, v) in headers {
        let key = MetadataKey::from_bytes(k.as_bytes())?;
        let value: MetadataValue<_> = v.parse()?;
        m.insert(key, value);
    }
    Ok(m)
}

async fn connect(target: &str, n: usize) -> anyhow::Result<Vec<tonic::client::Grpc<Channel>>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let ch = Endpoint::from_shared(target.to_string())?
            .tcp_nodelay(true)
            .connect()
            .await?;
        out.push(tonic::client::Grpc::new(ch));
    }
    Ok(out)
}

/// Runs `plan` on the current runtime (best a current-thread one on its own
/// core).
pub async fn run(plan: &Plan) -> anyhow::Result<Report> {
    let clients = connect(&plan.target, plan.connections).await?;
    let path: http::uri::PathAndQuery = plan.method.parse()?;
    let meta = metadata(&plan.headers)?;
    let warm_n = (plan.warmup.as_secs_f64() * plan.rate) as u64;
    let total = warm_n + (plan.duration.as_secs_f64() * plan.rate) as u64;
    let tally = Arc::new(Mutex::new(Tally {
        ok: 0,
        done: 0,
        last_done: None,
        errors: BTreeMap::new(),
        latency: histogram()?,
        service: histogram()?,
        send_lag: histogram()?,
    }));
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let interval = 1.0 / plan.rate;
    let start = Instant::now() + Duration::from_millis(20);
    let recorded_from = start + Duration::from_secs_f64(warm_n as f64 * interval);
    let spin = Duration::from_micros(1500);
    let busy = || in_flight.load(std::sync::atomic::Ordering::Relaxed) >= plan.max_in_flight;
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 * interval);
        match plan.pacing {
            Pacing::Spin => {
                if due > Instant::now() + spin {
                    tokio::time::sleep_until(due - spin).await;
                }
                while Instant::now() < due || busy() {
                    tokio::task::yield_now().await;
                }
            }
            Pacing::Sleep => {
                tokio::time::sleep_until(due).await;
                while busy() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
        let sent = Instant::now();
        let recorded = i >= warm_n;
        let mut client = clients[(i % clients.len() as u64) as usize].clone();
        let mut req = tonic::Request::new(plan.body.clone());
        *req.metadata_mut() = meta.clone();
        let (path, tally, in_flight) = (path.clone(), tally.clone(), in_flight.clone());
        in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::spawn(async move {
            let outcome = match client.ready().await {
                Ok(()) => client
                    .unary(req, path, Opaque)
                    .await
                    .map(|_| ())
                    .map_err(|s| format!("{:?}", s.code())),
                Err(e) => Err(format!("transport: {e}")),
            };
            let done = Instant::now();
            in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            if !recorded {
                return;
            }
            if let Ok(mut t) = tally.lock() {
                t.done += 1;
                let _ = t.send_lag.record(micros(sent - due));
                match outcome {
                    Ok(()) => {
                        t.ok += 1;
                        t.last_done = Some(t.last_done.map_or(done, |d| d.max(done)));
                        let _ = t.latency.record(micros(done - due));
                        let _ = t.service.record(micros(done - sent));
                    }
                    Err(code) => *t.errors.entry(code).or_default() += 1,
                }
            }
        });
    }
    let sent = total - warm_n;
    let drain_until = Instant::now() + plan.drain;
    while in_flight.load(std::sync::atomic::Ordering::Relaxed) > 0 && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let t = tally
        .lock()
        .map_err(|_| anyhow::anyhow!("a request task panicked"))?;
    Ok(Report {
        sent,
        ok: t.ok,
        errors: t.errors.clone(),
        incomplete: sent.saturating_sub(t.done),
        latency: t.latency.clone(),
        service: t.service.clone(),
        send_lag: t.send_lag.clone(),
        ok_per_sec: t.last_done.map_or(0.0, |last| {
            t.ok as f64
                / (last - recorded_from)
                    .as_secs_f64()
                    .max(plan.duration.as_secs_f64())
        }),
    })
}

impl Report {
    /// `p50=… p90=… p99=… p99.9=… max=…` in µs, or `-` without OK answers.
    pub fn percentiles(h: &Histogram<u64>) -> String {
        if h.is_empty() {
            return "-".into();
        }
        format!(
            "p50={} p90={} p99={} p99.9={} max={}",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        )
    }

    /// One line for people.
    pub fn line(&self) -> String {
        let errors = if self.errors.is_empty() {
            String::new()
        } else {
            format!(" errors={:?}", self.errors)
        };
        format!(
            "sent={} ok={} ok/s={:.0} incomplete={}{errors} | latency µs {} | send-lag µs p99={}",
            self.sent,
            self.ok,
            self.ok_per_sec,
            self.incomplete,
            Self::percentiles(&self.latency),
            if self.send_lag.is_empty() {
                0
            } else {
                self.send_lag.value_at_quantile(0.99)
            }
        )
    }

    /// The same as JSON.
    pub fn json(&self) -> serde_json::Value {
        let h = |h: &Histogram<u64>| {
            if h.is_empty() {
                return serde_json::Value::Null;
            }
            serde_json::json!({
                "p50": h.value_at_quantile(0.5),
                "p90": h.value_at_quantile(0.9),
                "p99": h.value_at_quantile(0.99),
                "p999": h.value_at_quantile(0.999),
                "max": h.max(),
                "mean": h.mean(),
            })
        };
        serde_json::json!({
            "sent": self.sent,
            "ok": self.ok,
            "ok_per_sec": self.ok_per_sec,
            "incomplete": self.incomplete,
            "errors": self.errors,
            "latency_us": h(&self.latency),
            "service_time_us": h(&self.service),
            "send_lag_us": h(&self.send_lag),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Either pacing sends exactly the planned number of requests over the
    /// planned time, and every one comes back from a live echo server.
    #[tokio::test]
    async fn both_pacings_send_the_plan_and_count_every_answer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(crate::echo::serve(listener));
        for pacing in [Pacing::Spin, Pacing::Sleep] {
            let plan = Plan {
                target: at.clone(),
                method: crate::echo::METHOD.into(),
                body: Bytes::from_static(b"ping"),
                headers: vec![("authorization".into(), "Bearer x".into())],
                rate: 2_000.0,
                duration: Duration::from_millis(500),
                warmup: Duration::from_millis(100),
                connections: 2,
                max_in_flight: 1000,
                drain: Duration::from_secs(10),
                pacing,
            };
            let started = Instant::now();
            let r = run(&plan).await.unwrap();
            assert_eq!(
                (r.sent, r.ok, r.incomplete, r.errors.len()),
                (1000, 1000, 0, 0),
                "{pacing:?}"
            );
            assert_eq!(r.latency.len(), 1000, "{pacing:?}");
            // The last request is due 0.6 s after the start: an open loop
            // cannot finish sooner, whatever the server's speed.
            assert!(
                started.elapsed() >= Duration::from_millis(590),
                "{pacing:?}"
            );
        }
    }
}
