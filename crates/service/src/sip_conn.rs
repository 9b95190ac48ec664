//! SIP messages framed off one connection, within the same limits as HTTP's: a message's head
//! within [`Limits::header`] of its first byte, its body within [`Limits::request`] of its
//! head, and no more than [`Limits::idle`] of silence between messages. What cannot be framed
//! or parsed, or does not arrive in time, is answered with the response RFC 3261 gives it
//! (400, 408, 513) when it is a request, and the connection is then closed: where the next
//! message would begin is not known.
//!
//! Until the connection has a security association ([`SipConnection::secure`]), keep-alive
//! line ends do not count as traffic (only whole messages do), and the connection lives
//! [`UNSECURED_LIFETIME`] at most: a client that never authenticates cannot hold a connection
//! with line ends or challenges without end. A sign-in provisions its certificate and answers
//! the challenge in seconds; the bound is lyncsim's own.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use lyncsim_wire::sip::{self, Message, Progress};

use crate::conn::Limits;

/// How long a connection may stay without a security association, from its first byte.
pub(crate) const UNSECURED_LIFETIME: std::time::Duration = std::time::Duration::from_secs(60);

/// How reading a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The client closed, stayed silent past the idle limit, or the service is stopping.
    Closed,
    /// A message could not be framed or parsed, or did not arrive in time: it was answered
    /// (when it was a request) and the connection is to be closed. The reason, for the
    /// journal.
    Refused(String),
}

/// One SIP connection: the stream, what was read of it and not yet framed, and when the
/// message now arriving began.
pub(crate) struct SipConnection<IO> {
    io: IO,
    buf: Vec<u8>,
    limits: Limits,
    /// When the first byte of the message now arriving came.
    head_began: Option<Instant>,
    /// When its head was complete.
    body_began: Option<Instant>,
    /// The `To` tag of this connection's answers.
    to_tag: String,
    /// Whether the connection has a security association: only then do keep-alives count.
    secured: bool,
    /// When a connection still without a security association is closed.
    unsecured_until: Instant,
    /// When the last whole message arrived (or the connection began).
    last_message: Instant,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> SipConnection<IO> {
    /// A connection of which `first` was already read, starting at `began` (the first
    /// message's head is due within the header limit of it).
    pub(crate) fn new(
        io: IO,
        first: Vec<u8>,
        began: Instant,
        limits: Limits,
        to_tag: String,
    ) -> Self {
        SipConnection {
            io,
            buf: first,
            limits,
            head_began: Some(began),
            body_began: None,
            to_tag,
            secured: false,
            unsecured_until: began + UNSECURED_LIFETIME,
            last_message: began,
        }
    }

    /// Says whether the connection now has a security association. One that ended (the
    /// registrar asks the client to authenticate again) gives the connection a new
    /// [`UNSECURED_LIFETIME`] from now.
    pub(crate) fn secure(&mut self, secured: bool) {
        if self.secured && !secured {
            let now = Instant::now();
            (self.unsecured_until, self.last_message) = (now + UNSECURED_LIFETIME, now);
        }
        self.secured = secured;
    }

    /// The next message.
    pub(crate) async fn read(&mut self, stop: &CancellationToken) -> Result<Message, Ended> {
        let mut chunk = vec![0u8; 8192];
        loop {
            let now = Instant::now();
            let (deadline, late) = match sip::progress(&self.buf) {
                Err(e) => {
                    let (code, reason) = e.status();
                    return Err(self.refuse(code, reason, e.to_string()).await);
                }
                Ok(Progress::Whole(frame)) => {
                    let end = frame.skip + frame.len;
                    let parsed = Message::parse(&self.buf[frame.skip..end]);
                    let message = match parsed {
                        Ok(m) => m,
                        Err(e) => return Err(self.refuse(400, "Bad Request", e.to_string()).await),
                    };
                    self.buf.drain(..end);
                    (self.head_began, self.body_began) = (None, None);
                    self.last_message = now;
                    return Ok(message);
                }
                Ok(Progress::Idle) => {
                    // Keep-alive line ends only: nothing to keep. With a security
                    // association the idle limit runs from the last of them; without, from
                    // the last whole message.
                    self.buf.clear();
                    self.head_began = None;
                    let from = if self.secured { now } else { self.last_message };
                    (from + self.limits.idle, None)
                }
                Ok(Progress::Head) => {
                    let began = *self.head_began.get_or_insert(now);
                    let late = format!(
                        "the message's head did not arrive within {}s",
                        self.limits.header.as_secs()
                    );
                    (began + self.limits.header, Some(late))
                }
                Ok(Progress::Body) => {
                    let began = *self.body_began.get_or_insert(now);
                    let late = format!(
                        "the message's body did not arrive within {}s of its head",
                        self.limits.request.as_secs()
                    );
                    (began + self.limits.request, Some(late))
                }
            };
            let lifetime_ends = !self.secured && self.unsecured_until < deadline;
            let deadline = if lifetime_ends {
                self.unsecured_until
            } else {
                deadline
            };
            let read = tokio::select! {
                _ = stop.cancelled() => return Err(Ended::Closed),
                r = tokio::time::timeout_at(deadline, self.io.read(&mut chunk)) => r,
            };
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => return Err(Ended::Closed),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) if lifetime_ends => {
                    self.close().await;
                    return Err(Ended::Refused(format!(
                        "closed: no security association within {}s of the connection's start",
                        UNSECURED_LIFETIME.as_secs()
                    )));
                }
                Err(_) => match late {
                    Some(why) => return Err(self.refuse(408, "Request Timeout", why).await),
                    None => return Err(Ended::Closed),
                },
            }
        }
    }

    /// Answers what arrived of the message now arriving with `code` (when it is a request),
    /// and closes the connection.
    async fn refuse(&mut self, code: u16, reason: &str, why: String) -> Ended {
        if let Some(answer) = sip::refusal(&self.buf, code, reason, &self.to_tag) {
            let _ = self.send(&answer).await;
        }
        self.close().await;
        Ended::Refused(format!("{code} {reason}: {why}"))
    }

    /// Writes `bytes`, within the request limit (a client that does not read is let go).
    pub(crate) async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let written = tokio::time::timeout(self.limits.request, async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        })
        .await;
        written.unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
    }

    /// Closes the connection.
    pub(crate) async fn close(&mut self) {
        let _ = tokio::time::timeout(self.limits.drain, self.io.shutdown()).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::DuplexStream;

    use super::*;
    use crate::conn::LIMITS;

    const REGISTER: &str = "REGISTER sip:contoso.com SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5;branch=z9hG4bK1\r\nFrom: <sip:bob@contoso.com>;tag=1\r\nTo: <sip:bob@contoso.com>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\n";

    /// Serves one end of a duplex stream: every message is answered `200 OK`; returns how
    /// the connection ended.
    fn serve() -> (DuplexStream, tokio::task::JoinHandle<Ended>) {
        serve_secured(false)
    }

    /// [`serve`], the connection with a security association from the start when `secured`.
    fn serve_secured(secured: bool) -> (DuplexStream, tokio::task::JoinHandle<Ended>) {
        let (client, server) = tokio::io::duplex(1 << 20);
        let task = tokio::spawn(async move {
            let mut conn =
                SipConnection::new(server, Vec::new(), Instant::now(), LIMITS, "t".into());
            conn.secure(secured);
            let stop = CancellationToken::new();
            loop {
                match conn.read(&stop).await {
                    Ok(m) => {
                        let ok = Message::response_to(&m, 200, "t").to_bytes();
                        if conn.send(&ok).await.is_err() {
                            return Ended::Closed;
                        }
                    }
                    Err(ended) => return ended,
                }
            }
        });
        (client, task)
    }

    async fn answers(client: &mut DuplexStream) -> String {
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Sends `bytes` one byte every `every`.
    async fn trickle<W: AsyncWrite + Unpin>(client: &mut W, bytes: &[u8], every: Duration) {
        for b in bytes {
            if client.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_sent_a_byte_a_second_is_cut_off_with_408() {
        let (client, task) = serve();
        let start = Instant::now();
        let (mut read, mut write) = tokio::io::split(client);
        let sender = tokio::spawn(async move {
            // The start line and the Via at once (the first line is read before SIP is known
            // to be SIP), then the rest a byte a second.
            let (now, later) = REGISTER.split_at(REGISTER.find("From").unwrap());
            write.write_all(now.as_bytes()).await.unwrap();
            let mut bytes = later.as_bytes().to_vec();
            bytes.extend_from_slice(b"Content-Length: 0\r\n\r\n");
            trickle(&mut write, &bytes, Duration::from_secs(1)).await;
        });
        let mut out = Vec::new();
        read.read_to_end(&mut out).await.unwrap();
        let out = String::from_utf8_lossy(&out);
        let ended = task.await.unwrap();
        sender.abort();
        assert!(start.elapsed() <= LIMITS.header + Duration::from_secs(1));
        // What arrived whole is copied: the Via, not the From cut short.
        assert!(out.starts_with("SIP/2.0 408 Request Timeout\r\n"), "{out}");
        assert!(out.contains("Via: SIP/2.0/TLS"), "{out}");
        assert!(!out.contains("From:"), "{out}");
        assert!(matches!(ended, Ended::Refused(why) if why.contains("head")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_declared_body_sent_a_byte_a_second_is_cut_off_with_408() {
        let (mut client, task) = serve();
        client.write_all(REGISTER.as_bytes()).await.unwrap();
        client
            .write_all(b"Content-Length: 60000\r\n\r\n")
            .await
            .unwrap();
        let start = Instant::now();
        let (mut read, mut write) = tokio::io::split(client);
        let sender = tokio::spawn(async move {
            trickle(&mut write, &[b'x'; 100], Duration::from_secs(1)).await;
        });
        let mut out = Vec::new();
        read.read_to_end(&mut out).await.unwrap();
        let out = String::from_utf8_lossy(&out);
        let ended = task.await.unwrap();
        sender.abort();
        assert!(start.elapsed() <= LIMITS.request + Duration::from_secs(1));
        // The head arrived whole: the answer names the request.
        assert!(out.starts_with("SIP/2.0 408 Request Timeout\r\n"), "{out}");
        assert!(out.contains("Call-ID: c1\r\n"), "{out}");
        assert!(matches!(ended, Ended::Refused(why) if why.contains("body")));
    }

    #[tokio::test(start_paused = true)]
    async fn keep_alives_hold_a_secured_connection_and_silence_ends_it() {
        let (mut client, task) = serve_secured(true);
        // A keep-alive every 20 s for 200 s: each one is traffic, so the connection stays.
        trickle(&mut client, &b"\r\n".repeat(10), Duration::from_secs(20)).await;
        let mut message = REGISTER.as_bytes().to_vec();
        message.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        client.write_all(&message).await.unwrap();
        let start = Instant::now();
        let out = answers(&mut client).await;
        assert!(out.starts_with("SIP/2.0 200 OK\r\n"), "{out}");
        // Then silence: closed after the idle limit.
        assert_eq!(task.await.unwrap(), Ended::Closed);
        assert!(start.elapsed() <= LIMITS.idle + Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn keep_alives_do_not_hold_a_connection_without_a_security_association() {
        let (client, task) = serve();
        let start = Instant::now();
        let (mut read, mut write) = tokio::io::split(client);
        // A keep-alive every 20 s, as the attack sent them: they are not traffic here.
        let sender = tokio::spawn(async move {
            trickle(&mut write, &b"\r\n".repeat(100), Duration::from_secs(20)).await;
        });
        let mut out = Vec::new();
        read.read_to_end(&mut out).await.unwrap();
        assert_eq!(task.await.unwrap(), Ended::Closed);
        sender.abort();
        assert!(start.elapsed() <= LIMITS.idle + Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_never_authenticates_lives_a_minute_at_most() {
        let (client, task) = serve();
        let start = Instant::now();
        let (mut read, mut write) = tokio::io::split(client);
        // A REGISTER every 25 s, each answered, none authenticated.
        let sender = tokio::spawn(async move {
            let mut message = REGISTER.as_bytes().to_vec();
            message.extend_from_slice(b"Content-Length: 0\r\n\r\n");
            for _ in 0..100 {
                if write.write_all(&message).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(25)).await;
            }
        });
        let mut out = Vec::new();
        read.read_to_end(&mut out).await.unwrap();
        let ended = task.await.unwrap();
        sender.abort();
        assert_eq!(start.elapsed(), UNSECURED_LIFETIME);
        assert!(
            matches!(&ended, Ended::Refused(why) if why.contains("no security association")),
            "{ended:?}"
        );
        let answers = String::from_utf8_lossy(&out).matches("SIP/2.0 200").count();
        assert_eq!(answers, 3, "the messages of its minute were answered");
    }

    #[tokio::test(start_paused = true)]
    async fn framing_errors_are_answered_and_close_the_connection() {
        let cases: [(&[u8], &str); 4] = [
            (
                b"Content-Length: 0\r\nContent-Length: 10\r\n\r\n",
                "SIP/2.0 400 Bad Request\r\n",
            ),
            (b"Content-Length: -1\r\n\r\n", "SIP/2.0 400 Bad Request\r\n"),
            (b"\r\n", "SIP/2.0 400 Bad Request\r\n"),
            (
                b"Content-Length: 1000000\r\n\r\n",
                "SIP/2.0 513 Message Too Large\r\n",
            ),
        ];
        for (tail, status) in cases {
            let (mut client, task) = serve();
            let mut bytes = REGISTER.as_bytes().to_vec();
            bytes.extend_from_slice(tail);
            client.write_all(&bytes).await.unwrap();
            let out = answers(&mut client).await;
            assert!(out.starts_with(status), "{out}");
            assert!(out.contains("CSeq: 1 REGISTER\r\n"), "{out}");
            assert!(matches!(task.await.unwrap(), Ended::Refused(_)));
        }
        // A head of a megabyte: 513 as soon as it passes the bound, not after it all.
        let (mut client, task) = serve();
        let mut big = REGISTER.as_bytes().to_vec();
        big.extend(std::iter::repeat_n(b'a', sip::MAX_HEAD + 1));
        client.write_all(&big).await.unwrap();
        let out = answers(&mut client).await;
        assert!(
            out.starts_with("SIP/2.0 513 Message Too Large\r\n"),
            "{out}"
        );
        assert!(matches!(task.await.unwrap(), Ended::Refused(_)));
    }
}
