//! A real SMTP server for tests, in-process: the `mailin` crate's SMTP state
//! machine (HELO/EHLO, MAIL, RCPT, DATA with dot-unstuffing, RSET, QUIT) on a
//! tokio listener, keeping every accepted message in memory. It can be
//! stopped and started again on the same port, to test delivery while the
//! mail server is down, told to refuse a recipient for good (550) or for
//! now (451), and told to stall sessions at a chosen point so a send stays
//! in flight (to crash the sender meanwhile).

use keyholder_kit::CancellationToken;
use mailparse::MailHeaderMap;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// Envelope sender.
    pub from: String,
    /// Envelope recipients.
    pub to: Vec<String>,
    /// The raw message (headers and body).
    pub data: Vec<u8>,
}

impl ReceivedMail {
    fn parsed(&self) -> mailparse::ParsedMail<'_> {
        mailparse::parse_mail(&self.data).expect("a parseable message")
    }

    /// A header, decoded (RFC 2047 encoded words included).
    pub fn header(&self, name: &str) -> Option<String> {
        self.parsed().headers.get_first_value(name)
    }

    /// The decoded Subject.
    pub fn subject(&self) -> String {
        self.header("Subject").unwrap_or_default()
    }

    /// The decoded body of the first part of this MIME type (`text/plain`, `text/html`).
    pub fn body(&self, mimetype: &str) -> Option<String> {
        fn find(p: &mailparse::ParsedMail<'_>, t: &str) -> Option<String> {
            if p.subparts.is_empty() {
                return (p.ctype.mimetype == t).then(|| p.get_body().expect("decodable body"));
            }
            p.subparts.iter().find_map(|s| find(s, t))
        }
        find(&self.parsed(), mimetype)
    }

    /// The top-level Content-Type's MIME type.
    pub fn mimetype(&self) -> String {
        self.parsed().ctype.mimetype
    }
}

/// A running test SMTP server. Stops when dropped.
pub struct SmtpServer {
    addr: SocketAddr,
    mailbox: Arc<Mutex<Vec<ReceivedMail>>>,
    arrived: Arc<Notify>,
    refusals: Refusals,
    hold: Arc<HoldState>,
    stop: CancellationToken,
}

/// Where [`SmtpServer::hold`] stalls new sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Before the greeting: the message never reaches the server.
    Greeting,
    /// After the message is stored, before it is acknowledged: the server
    /// has it, the sender does not know.
    Acknowledgement,
}

#[derive(Default)]
struct HoldState {
    at: Mutex<Option<Hold>>,
    stalled: Mutex<usize>,
    /// Woken when a session stalls.
    changed: Notify,
    /// Woken when the hold is lifted.
    released: Notify,
}

impl HoldState {
    fn holds_at(&self, point: Hold) -> bool {
        *self.at.lock().expect("hold") == Some(point)
    }

    /// Waits while the server holds at `point`.
    async fn stall(&self, point: Hold) {
        let mut counted = false;
        loop {
            let released = self.released.notified();
            if !self.holds_at(point) {
                return;
            }
            if !counted {
                counted = true;
                *self.stalled.lock().expect("stalled") += 1;
                self.changed.notify_waiters();
            }
            released.await;
        }
    }
}

/// Recipient (lower-case) → the code and text RCPT TO is answered with.
type Refusals = Arc<Mutex<HashMap<String, (u16, String)>>>;

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A free loopback address to start a server on later (nothing listens
/// there until then, so connections are refused).
///
/// The port comes from below the kernel's ephemeral range (32768 and up on
/// Linux), so no `bind(…:0)` and no outgoing connection of another test can
/// be given it before the server binds it; ports handed out in this process
/// are not handed out again.
pub fn reserve_addr() -> SocketAddr {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    for _ in 0..1000 {
        let r = u16::try_from(uuid::Uuid::new_v4().as_u128() % 12_000).unwrap_or(0);
        let port = 20_000 + r;
        if handed_out.contains(&port) {
            continue;
        }
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            handed_out.insert(port);
            return l.local_addr().expect("local addr");
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr")
}

/// `smtp://` URL of an address (plain SMTP, no TLS: loopback only).
pub fn url_of(addr: SocketAddr) -> String {
    format!("smtp://{addr}")
}

impl SmtpServer {
    /// Starts on an ephemeral port.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("addr")).await
    }

    /// Starts on `addr` (e.g. one from [`reserve_addr`]).
    pub async fn start_on(addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind smtp listener");
        let addr = listener.local_addr().expect("local addr");
        let server = Self {
            addr,
            mailbox: Arc::new(Mutex::new(Vec::new())),
            arrived: Arc::new(Notify::new()),
            refusals: Arc::new(Mutex::new(HashMap::new())),
            hold: Arc::new(HoldState::default()),
            stop: CancellationToken::new(),
        };
        let (mailbox, arrived, refusals, hold, stop) = (
            server.mailbox.clone(),
            server.arrived.clone(),
            server.refusals.clone(),
            server.hold.clone(),
            server.stop.clone(),
        );
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    _ = stop.cancelled() => break,
                    r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
                };
                let stored = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let handler = Collector {
                    mailbox: mailbox.clone(),
                    arrived: arrived.clone(),
                    refusals: refusals.clone(),
                    stored: stored.clone(),
                    current: None,
                };
                let stop = stop.clone();
                let hold = hold.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = session(stream, peer.ip(), handler, stored, hold) => {}
                    }
                });
            }
        });
        server
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:<port>`, for `Config::audit.smtp_url`.
    pub fn url(&self) -> String {
        url_of(self.addr)
    }

    /// From now on answers `RCPT TO:<recipient>` with a permanent
    /// `550 5.1.1 mailbox unavailable` (an address the server will never take).
    pub fn reject(&self, recipient: &str) {
        self.refuse(recipient, 550, "5.1.1 Mailbox unavailable");
    }

    /// From now on answers `RCPT TO:<recipient>` with a transient
    /// `451 4.3.0 try again later` (e.g. greylisting, a full queue).
    pub fn defer(&self, recipient: &str) {
        self.refuse(recipient, 451, "4.3.0 Try again later");
    }

    /// From now on answers `RCPT TO:<recipient>` with
    /// `550 5.7.1 Relay access denied` (a relay misconfigured on our side).
    pub fn deny_relay(&self, recipient: &str) {
        self.refuse(recipient, 550, "5.7.1 Relay access denied");
    }

    /// Accepts `recipient` again after [`SmtpServer::reject`], [`SmtpServer::defer`] or
    /// [`SmtpServer::deny_relay`].
    pub fn accept(&self, recipient: &str) {
        self.refusals
            .lock()
            .expect("refusals")
            .remove(&recipient.to_lowercase());
    }

    fn refuse(&self, recipient: &str, code: u16, text: &str) {
        self.refusals
            .lock()
            .expect("refusals")
            .insert(recipient.to_lowercase(), (code, text.to_string()));
    }

    /// From now on stalls every session at `point` (those already past it
    /// go on), until [`SmtpServer::release`].
    pub fn hold(&self, point: Hold) {
        *self.hold.at.lock().expect("hold") = Some(point);
    }

    /// Lifts the hold: stalled sessions go on, new ones are not stalled.
    pub fn release(&self) {
        *self.hold.at.lock().expect("hold") = None;
        self.hold.released.notify_waiters();
    }

    /// Waits until `n` sessions in all have stalled at the hold (panics
    /// after 20 s).
    pub async fn wait_stalled(&self, n: usize) {
        let wait = async {
            loop {
                let changed = self.hold.changed.notified();
                if *self.hold.stalled.lock().expect("stalled") >= n {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .unwrap_or_else(|_| panic!("expected {n} stalled SMTP sessions"));
    }

    /// Every message accepted so far.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.mailbox.lock().expect("mailbox").clone()
    }

    /// Waits until at least `n` messages arrived (panics after 20 s: a bug,
    /// not a timing assumption), and returns all of them.
    pub async fn wait_for(&self, n: usize) -> Vec<ReceivedMail> {
        let wait = async {
            loop {
                let notified = self.arrived.notified();
                let msgs = self.messages();
                if msgs.len() >= n {
                    return msgs;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "expected {n} messages at the test SMTP server, got {}",
                    self.messages().len()
                )
            })
    }

    /// Stops listening and drops open connections.
    pub fn stop(self) {
        self.stop.cancel();
    }
}

async fn session(
    stream: TcpStream,
    ip: IpAddr,
    handler: Collector,
    stored: Arc<std::sync::atomic::AtomicBool>,
    hold: Arc<HoldState>,
) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    hold.stall(Hold::Greeting).await;
    let mut smtp = mailin::SessionBuilder::new("keyholder-test-smtp").build(ip, handler);
    if write_response(&mut write, &smtp.greeting()).await.is_err() {
        return;
    }
    let mut line = Vec::with_capacity(128);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let res = smtp.process(&line);
        if stored.swap(false, std::sync::atomic::Ordering::SeqCst) {
            hold.stall(Hold::Acknowledgement).await;
        }
        match res.action {
            mailin::Action::Reply => {
                if write_response(&mut write, &res).await.is_err() {
                    return;
                }
            }
            mailin::Action::Close => {
                let _ = write_response(&mut write, &res).await;
                return;
            }
            // No TLS in the test server: the client asked for something we never offered.
            mailin::Action::UpgradeTls => return,
            mailin::Action::NoReply => {}
        }
    }
}

async fn write_response(
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    res: &mailin::Response,
) -> std::io::Result<()> {
    let bytes = res.buffer()?;
    w.write_all(&bytes).await?;
    w.flush().await
}

struct Collector {
    mailbox: Arc<Mutex<Vec<ReceivedMail>>>,
    arrived: Arc<Notify>,
    refusals: Refusals,
    /// Set when a message was just stored, for the session to hold its answer.
    stored: Arc<std::sync::atomic::AtomicBool>,
    current: Option<ReceivedMail>,
}

impl mailin::Handler for Collector {
    fn rcpt(&mut self, to: &str) -> mailin::Response {
        let refusal = self
            .refusals
            .lock()
            .expect("refusals")
            .get(&to.to_lowercase())
            .cloned();
        match refusal {
            Some((code, text)) => mailin::Response::custom(code, text),
            None => mailin::response::OK,
        }
    }

    fn data_start(
        &mut self,
        _domain: &str,
        from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin::Response {
        self.current = Some(ReceivedMail {
            from: from.to_string(),
            to: to.to_vec(),
            data: Vec::new(),
        });
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(m) = self.current.as_mut() {
            m.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> mailin::Response {
        if let Some(m) = self.current.take() {
            self.mailbox.lock().expect("mailbox").push(m);
            self.stored.store(true, std::sync::atomic::Ordering::SeqCst);
            self.arrived.notify_waiters();
        }
        mailin::response::OK
    }
}
