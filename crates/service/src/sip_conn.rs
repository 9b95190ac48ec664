//! SIP messages framed off one connection, within the same limits as HTTP's: a message's head
//! within [`Limits::header`] of its first byte, its body within [`Limits::request`] of its
//! head, and no more than [`Limits::idle`] of silence between messages (a keep-alive's line
//! ends count as traffic). What cannot be framed or parsed, or does not arrive in time, is
//! answered with the response RFC 3261 gives it (400, 408, 513) when it is a request, and the
//! connection is then closed: where the next message would begin is not known.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use lyncsim_wire::sip::{self, Message, Progress};

use crate::conn::Limits;

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
        }
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
                    return Ok(message);
                }
                Ok(Progress::Idle) => {
                    // Keep-alive line ends only: nothing to keep, and the idle limit runs
                    // from the last of them.
                    self.buf.clear();
                    self.head_began = None;
                    (now + self.limits.idle, None)
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
            let read = tokio::select! {
                _ = stop.cancelled() => return Err(Ended::Closed),
                r = tokio::time::timeout_at(deadline, self.io.read(&mut chunk)) => r,
            };
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => return Err(Ended::Closed),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
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
        let (client, server) = tokio::io::duplex(1 << 20);
        let task = tokio::spawn(async move {
            let mut conn =
                SipConnection::new(server, Vec::new(), Instant::now(), LIMITS, "t".into());
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
    async fn keep_alives_hold_a_connection_and_silence_ends_it() {
        let (mut client, task) = serve();
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
