//! `keyholder-load`: measure Keyholder against the transport floor.
//!
//! - `keyholder-load echo` serves a bare tonic echo (the floor);
//! - `keyholder-load run` offers an open-loop load to any unary method;
//! - `keyholder-load floor` runs CheckAccess and echo side by side, pinned,
//!   and prints the comparison BENCHMARKS.md quotes.

#![forbid(unsafe_code)]

mod codec;
mod echo;
mod floor;
mod open_loop;
mod relay;

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "keyholder-load", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Serve the bare echo method (`/keyholder.bench.v1.Echo/Echo`).
    Echo {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:50099")]
        listen: std::net::SocketAddr,
        /// Tokio worker threads.
        #[arg(long, default_value_t = 1)]
        workers: usize,
    },
    /// Offer an open-loop load to one unary method and print what came back.
    Run {
        /// `http://host:port`.
        #[arg(long)]
        target: String,
        /// `/package.Service/Method`.
        #[arg(long)]
        method: String,
        /// The encoded request message, hex (without the gRPC frame header).
        #[arg(long, default_value = "")]
        body_hex: String,
        /// gRPC metadata `key:value` (repeatable).
        #[arg(long = "header")]
        headers: Vec<String>,
        /// Requests per second.
        #[arg(long)]
        rate: f64,
        /// Seconds recorded.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Seconds of warm-up, not recorded.
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
        /// HTTP/2 connections.
        #[arg(long, default_value_t = 1)]
        connections: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// CheckAccess against echo, pinned, alternating, in one run.
    Floor(floor::FloorArgs),
}

fn hex(text: &str) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(text.len().is_multiple_of(2), "hex body has an odd length");
    (0..text.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(text.get(i..i + 2).unwrap_or_default(), 16)
                .map_err(|_| anyhow::anyhow!("body is not hex"))
        })
        .collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Cmd::Echo { listen, workers } => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers.max(1))
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| {
                rt.block_on(async {
                    let l = tokio::net::TcpListener::bind(listen).await?;
                    echo::serve(l).await
                })
            }),
        // The generator on one thread: spinning for the due time and the
        // answers' tasks share it, so it needs only its own core.
        other => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(generate(other))),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyholder-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn generate(cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Run {
            target,
            method,
            body_hex,
            headers,
            rate,
            duration,
            warmup,
            connections,
            json,
        } => {
            let headers = headers
                .iter()
                .map(|h| {
                    h.split_once(':')
                        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                        .ok_or_else(|| anyhow::anyhow!("a header is key:value, not {h}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let report = open_loop::run(&open_loop::Plan {
                target,
                method,
                body: hex(&body_hex)?.into(),
                headers,
                rate,
                duration: Duration::from_secs_f64(duration),
                warmup: Duration::from_secs_f64(warmup),
                connections,
                max_in_flight: 1000,
                drain: Duration::from_secs(5),
                pacing: open_loop::Pacing::Spin,
            })
            .await?;
            if json {
                println!("{}", report.json());
            } else {
                println!("{}", report.line());
            }
            Ok(())
        }
        Cmd::Floor(args) => floor::run(&args).await,
        Cmd::Echo { .. } => Ok(()),
    }
}
