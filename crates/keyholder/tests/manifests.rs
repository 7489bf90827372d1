//! `deploy/k8s` as a cluster would run it, minus the cluster: three
//! processes with three data directories, each configured only from its
//! Deployment — the shared ConfigMap, the container's env, Secrets and
//! volume mounts mapped to local folders, ports to free loopback ports —
//! each pod's `migrate` init container run first, readiness asked with the
//! manifest's own probe, then the whole lifecycle walked by `keyholder demo`
//! and the sign-in mail caught by a real SMTP server. A manifest that cannot
//! work (a missing credential, a wrong address, a wrong probe name) fails here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use keyholder_testkit::smtp::SmtpServer;
use keyholder_testkit::tls::{TestPki, https_get};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SERVICES: [&str; 3] = ["identity", "broker", "audit"];

fn free_port() -> u16 {
    common::free_port().port()
}

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/k8s")
}

/// Every document of a manifest file.
fn documents(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(k8s_dir().join(file)).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

struct Running(Vec<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What the test stands in for: the cluster's DNS names, ports, Secrets and
/// volumes.
struct Cluster {
    root: tempfile::TempDir,
    /// `identity.keyholder.svc:50051` → `127.0.0.1:<free>`, and the like.
    hosts: BTreeMap<String, String>,
    /// Each service's gRPC port in its manifest → the local one.
    ports: BTreeMap<String, u16>,
    /// keyholder-secrets' keys.
    secrets: BTreeMap<String, String>,
    config_map: BTreeMap<String, String>,
    credentials: PathBuf,
    kek: PathBuf,
    /// The CA and certificates the keyholder-tls-<service> Secrets hold.
    pki: TestPki,
}

impl Cluster {
    async fn new(smtp: &SmtpServer) -> Self {
        let root = tempfile::tempdir().unwrap();
        let mut hosts = BTreeMap::new();
        let mut ports = BTreeMap::new();
        for (svc, port) in [("identity", 50051), ("broker", 50052), ("audit", 50053)] {
            let local = free_port();
            hosts.insert(
                format!("{svc}.keyholder.svc:{port}"),
                format!("127.0.0.1:{local}"),
            );
            ports.insert(svc.to_string(), local);
        }
        let mut secrets = BTreeMap::new();
        for svc in SERVICES {
            let url = if keyholder_testkit::db::on_postgres() {
                keyholder_testkit::db::fresh_postgres_database()
                    .await
                    .expose()
                    .to_string()
            } else {
                format!("sqlite://{}/db/{svc}.db?mode=rwc", root.path().display())
            };
            secrets.insert(
                format!("KEYHOLDER_{}__DATABASE_URL", svc.to_uppercase()),
                url,
            );
        }
        secrets.insert("KEYHOLDER_AUDIT__SMTP_URL".into(), smtp.url());

        let config = documents("config.yaml");
        let config_map = find(&config, "ConfigMap", "keyholder-config")["data"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();

        // The operator's steps from deploy/README.md: a KEK and the
        // credentials, made with the same binary.
        let kek = root.path().join("secrets/keyholder.kek");
        let credentials = root.path().join("secrets/credentials");
        for args in [
            vec!["admin", "generate-kek", "--out", kek.to_str().unwrap()],
            vec![
                "admin",
                "generate-credentials",
                "--out-dir",
                credentials.to_str().unwrap(),
            ],
        ] {
            let o = Command::new(env!("CARGO_BIN_EXE_keyholder"))
                .args(&args)
                .env_clear()
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        Self {
            root,
            hosts,
            ports,
            secrets,
            config_map,
            credentials,
            kek,
            pki: TestPki::new("cluster"),
        }
    }

    /// A Secret volume's files, as the kubelet would project them.
    fn secret_volume(&self, volume: &Value, into: &Path) {
        std::fs::create_dir_all(into).unwrap();
        let secret = &volume["secret"];
        let name = secret["secretName"].as_str().unwrap();
        let files: Vec<(String, PathBuf)> = match name {
            "keyholder-kek" => vec![("keyholder.kek".into(), self.kek.clone())],
            // What cert-manager writes into a kubernetes.io/tls Secret.
            tls if tls.starts_with("keyholder-tls-") => {
                let (cert, key) = self.pki.issue(tls);
                vec![
                    ("tls.crt".into(), cert),
                    ("tls.key".into(), key),
                    ("ca.crt".into(), self.pki.ca_file.clone()),
                ]
            }
            "keyholder-credentials" => ["operator", "broker", "audit"]
                .iter()
                .map(|s| {
                    let name = format!("{s}.credentials");
                    let path = self.credentials.join(&name);
                    (name, path)
                })
                .collect(),
            other => panic!("the test does not know Secret {other}"),
        };
        let items = secret["items"].as_array();
        for (key, source) in files {
            let target = match items {
                Some(items) => match items.iter().find(|i| i["key"] == key.as_str()) {
                    Some(i) => i["path"].as_str().unwrap().to_string(),
                    None => continue,
                },
                None => key.clone(),
            };
            std::fs::copy(&source, into.join(target)).unwrap();
        }
    }

    /// A container's environment, with its volumes mapped to local folders.
    fn environment(&self, svc: &str, pod: &Value, container: &Value) -> Vec<(String, String)> {
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for from in container["envFrom"].as_array().into_iter().flatten() {
            assert_eq!(from["configMapRef"]["name"], "keyholder-config");
            env.extend(self.config_map.clone());
        }
        for e in container["env"].as_array().into_iter().flatten() {
            let name = e["name"].as_str().unwrap().to_string();
            let value = if let Some(v) = e["value"].as_str() {
                v.to_string()
            } else {
                let r = &e["valueFrom"]["secretKeyRef"];
                assert_eq!(r["name"], "keyholder-secrets", "{name}");
                self.secrets
                    .get(r["key"].as_str().unwrap())
                    .unwrap_or_else(|| panic!("keyholder-secrets has no {}", r["key"]))
                    .clone()
            };
            env.insert(name, value);
        }
        // Volumes: each mount becomes a folder of this pod.
        let mut mounts = Vec::new();
        for m in container["volumeMounts"].as_array().into_iter().flatten() {
            let name = m["name"].as_str().unwrap();
            let path = m["mountPath"].as_str().unwrap().to_string();
            let local = self.root.path().join("pods").join(svc).join(name);
            let volume = pod["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("{svc} mounts {name}, which is no volume"));
            if volume.get("secret").is_some() {
                self.secret_volume(volume, &local);
            } else {
                std::fs::create_dir_all(&local).unwrap();
            }
            mounts.push((path, local));
        }
        let metrics = free_port();
        env.into_iter()
            .map(|(k, mut v)| {
                for (cluster, local) in &self.hosts {
                    v = v.replace(cluster, local);
                }
                // A listener must be on the port the pod declares (which the
                // Service and the probes use); then it moves to a free one.
                if k.ends_with("__METRICS_LISTEN") {
                    assert_eq!(
                        v,
                        format!("0.0.0.0:{}", declared(container, "metrics")),
                        "{k}"
                    );
                    v = format!("127.0.0.1:{metrics}");
                } else if k.ends_with("__WEBHOOK_LISTEN") {
                    assert_eq!(
                        v,
                        format!("0.0.0.0:{}", declared(container, "webhooks")),
                        "{k}"
                    );
                    v = format!("127.0.0.1:{}", free_port());
                } else if k.ends_with("__LISTEN") {
                    assert_eq!(v, format!("0.0.0.0:{}", declared(container, "grpc")), "{k}");
                    v = format!("127.0.0.1:{}", self.ports[svc]);
                }
                // The longest mount path under which the value lies, once.
                if let Some((path, local)) = mounts
                    .iter()
                    .filter(|(path, _)| v == *path || v.starts_with(&format!("{path}/")))
                    .max_by_key(|(path, _)| path.len())
                {
                    v = format!("{}{}", local.display(), &v[path.len()..]);
                }
                (k, v)
            })
            .collect()
    }
}

/// The container port named `name`.
fn declared(container: &Value, name: &str) -> u64 {
    container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("no {name} port"))
}

fn keyholder(args: &[String], env: &[(String, String)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keyholder"));
    c.args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    c
}

/// Polls the readiness probe (`GET /ready` over HTTPS on the metrics port)
/// until it answers 200.
async fn wait_ready(addr: SocketAddr, ca_file: &Path, service: &str) {
    let mut last = String::new();
    for _ in 0..600 {
        last = https_get(addr, ca_file, "/ready").await.unwrap_or_default();
        if last.starts_with("HTTP/1.1 200") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{service}'s readiness probe at {addr} never said 200: {last}");
}

#[tokio::test]
async fn the_manifests_run_as_three_processes_and_carry_the_lifecycle() {
    let smtp = SmtpServer::start().await;
    let cluster = Cluster::new(&smtp).await;
    let mut running = Running(Vec::new());
    let mut probes = Vec::new();
    let mut metrics = Vec::new();
    for svc in SERVICES {
        let docs = documents(&format!("{svc}.yaml"));
        let deployment = find(&docs, "Deployment", svc);
        let pod = &deployment["spec"]["template"]["spec"];
        // The init container first: it must leave a migrated schema.
        for init in pod["initContainers"].as_array().into_iter().flatten() {
            let env = cluster.environment(svc, pod, init);
            let o = keyholder(&strings(&init["args"]), &env).output().unwrap();
            assert!(
                o.status.success(),
                "{svc}'s init container {} failed: {}",
                init["name"],
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let container = &pod["containers"][0];
        let env = cluster.environment(svc, pod, container);
        let metrics_key = format!("KEYHOLDER_{}__METRICS_LISTEN", svc.to_uppercase());
        if let Some((_, addr)) = env.iter().find(|(k, _)| *k == metrics_key) {
            metrics.push(addr.clone());
        }
        let child = keyholder(&strings(&container["args"]), &env)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        running.0.push(child);
        // The probes: /ready and /live over HTTPS on the metrics port.
        let probe = &container["readinessProbe"]["httpGet"];
        assert_eq!(
            (&probe["port"], &probe["path"], &probe["scheme"]),
            (&"metrics".into(), &"/ready".into(), &"HTTPS".into()),
            "{svc}"
        );
        let metrics_addr: SocketAddr = metrics.last().unwrap().parse().unwrap();
        probes.push((metrics_addr, svc));
    }
    // Started together, as pods are: each turns ready once what it needs is.
    for (addr, service) in &probes {
        wait_ready(*addr, &cluster.pki.ca_file, service).await;
    }

    // The operator walks the lifecycle with the CLI, from outside the
    // "cluster", with the operator credentials from the Secret.
    let mut cli_env: Vec<(String, String)> = SERVICES
        .iter()
        .map(|svc| {
            (
                format!("KEYHOLDER_{}__URL", svc.to_uppercase()),
                format!("https://127.0.0.1:{}", cluster.ports[*svc]),
            )
        })
        .collect();
    // The services require a client certificate (mutual TLS): the CLI
    // presents one from the same CA.
    let (cert, key) = cluster.pki.issue("operator-cli");
    for (k, v) in [
        ("KEYHOLDER_TLS__CERT_FILE", cert),
        ("KEYHOLDER_TLS__KEY_FILE", key),
        ("KEYHOLDER_TLS__CA_FILE", cluster.pki.ca_file.clone()),
    ] {
        cli_env.push((k.into(), v.display().to_string()));
    }
    cli_env.push((
        "KEYHOLDER_IDENTITY__OPERATOR_CREDENTIALS_FILE".into(),
        cluster
            .credentials
            .join("operator.credentials")
            .display()
            .to_string(),
    ));
    cli_env.push(("KEYHOLDER_AUDIT__SMTP_URL".into(), smtp.url()));
    let demo = keyholder(&["demo".to_string()], &cli_env).output().unwrap();
    let out = String::from_utf8_lossy(&demo.stdout);
    assert!(
        demo.status.success(),
        "demo failed: {}\n{out}",
        String::from_utf8_lossy(&demo.stderr)
    );
    for expected in ["allowed=true", "allowed=false", "intact=true"] {
        assert!(out.contains(expected), "missing {expected:?}:\n{out}");
    }
    // The chief admin's sign-in mail reached the SMTP server in the Secret.
    let chief = out
        .lines()
        .find_map(|l| l.split("chief admin ").nth(1))
        .expect("the demo names the chief admin")
        .trim()
        .to_string();
    let mut found = false;
    for _ in 0..100 {
        found = smtp.messages().iter().any(|m| {
            m.to.iter().any(|t| t.eq_ignore_ascii_case(&chief))
                && m.subject().starts_with("Support sign-in to Demo customer")
        });
        if found {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found, "no sign-in mail to {chief}");

    // Every series the Grafana dashboard plots is one the services export.
    assert_eq!(metrics.len(), 3, "each Deployment serves metrics");
    let mut exported = String::new();
    for addr in &metrics {
        let page = https_get(addr.parse().unwrap(), &cluster.pki.ca_file, "/metrics")
            .await
            .unwrap();
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        exported.push_str(&page);
    }
    let dashboard = std::fs::read_to_string(k8s_dir().join("../grafana/keyholder.json")).unwrap();
    let mut plotted: Vec<&str> = dashboard
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("keyholder_"))
        .collect();
    plotted.sort_unstable();
    plotted.dedup();
    assert!(plotted.len() >= 10, "{plotted:?}");
    for name in plotted {
        assert!(
            exported.lines().any(|l| l.starts_with(name)),
            "the dashboard plots {name}, which no service exports"
        );
    }
}
