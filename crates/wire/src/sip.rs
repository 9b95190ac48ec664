//! SIP as the registrar and its clients speak it: messages framed on a stream (RFC 3261 over
//! TLS, with the CRLF keep-alives between them) and read into [`Message`], the `TLS-DSK`
//! authentication headers of [MS-SIPAE], and the signature over a message's fields that both
//! sides compute once the security association is up (the form pidgin-sipe's `sipe-sign.c`
//! builds for version 4).

use aws_lc_rs::hmac;

use crate::WireError;

/// The most a message's start line and headers may take.
pub const MAX_HEAD: usize = 16 * 1024;
/// The most a message's body may take.
pub const MAX_BODY: usize = 64 * 1024;
/// The realm of Lync's registrars.
pub const REALM: &str = "SIP Communications Service";

/// A time as SIP's `Date` header writes it (RFC 3261 section 20.17: RFC 1123's form, always
/// GMT): `Sat, 13 Nov 2010 23:29:00 GMT`. [MS-SIPAE]'s example challenges carry it, and
/// [MS-SIP] has the client use it to tell that its clock is off.
pub fn sip_date(unix_ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(unix_ms)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}
/// The authentication protocol.
pub const TLS_DSK: &str = "TLS-DSK";
/// The version of [MS-SIPAE] spoken (signatures over the form with To's URL and
/// P-Asserted-Identity).
pub const AUTH_VERSION: u32 = 4;

/// Where the next message lies in a buffer read from the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Keep-alive line ends before the message, to drop.
    pub skip: usize,
    /// The message's length after them, head and body.
    pub len: usize,
}

/// How far the next message in a buffer has arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing but keep-alive line ends (or nothing at all): no message has begun.
    Idle,
    /// A message has begun; its head is not complete.
    Head,
    /// The head is complete; the body is not.
    Body,
    /// A whole message.
    Whole(Frame),
}

/// Why the bytes on a SIP stream cannot be framed into a message. Each has the response RFC
/// 3261 gives it ([`FrameError::status`]); the connection is closed after it, since where the
/// next message would begin is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The start line and headers are longer than [`MAX_HEAD`].
    #[error("the message's head is longer than {MAX_HEAD} bytes")]
    HeadTooLarge,
    /// The body a Content-Length declares is longer than [`MAX_BODY`].
    #[error("a body of {0} bytes is longer than {MAX_BODY}")]
    BodyTooLarge(u64),
    /// No Content-Length: over a stream, RFC 3261 section 18.3 makes it mandatory, since
    /// without it the end of the message cannot be found.
    #[error("the message has no Content-Length header, which SIP over a stream must carry")]
    NoContentLength,
    /// A Content-Length that is not a whole number of bytes.
    #[error("Content-Length {0:?} is not a number of bytes")]
    BadContentLength(String),
    /// Two Content-Length headers: the message's end would depend on which one was believed.
    #[error("the message has more than one Content-Length header")]
    DuplicateContentLength,
    /// A head whose bytes are not UTF-8 (RFC 3261's grammar is UTF-8 text).
    #[error("the message's head is not UTF-8")]
    NotUtf8,
}

impl FrameError {
    /// The status and reason phrase of the answer: 513 Message Too Large for a message longer
    /// than the registrar takes (RFC 3261 section 21.5.11), 400 Bad Request for the others
    /// (section 21.4.1).
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            FrameError::HeadTooLarge | FrameError::BodyTooLarge(_) => (513, "Message Too Large"),
            _ => (400, "Bad Request"),
        }
    }
}

/// How far the next message in `buf` has arrived, or why it cannot be framed.
pub fn progress(buf: &[u8]) -> Result<Progress, FrameError> {
    let skip = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    let rest = &buf[skip..];
    if rest.is_empty() {
        return Ok(Progress::Idle);
    }
    let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
        if rest.len() > MAX_HEAD {
            return Err(FrameError::HeadTooLarge);
        }
        return Ok(Progress::Head);
    };
    if end > MAX_HEAD {
        return Err(FrameError::HeadTooLarge);
    }
    let head = std::str::from_utf8(&rest[..end]).map_err(|_| FrameError::NotUtf8)?;
    let mut length = None;
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("l") {
            if length.is_some() {
                return Err(FrameError::DuplicateContentLength);
            }
            let value = value.trim();
            let n: u64 = value
                .parse()
                .map_err(|_| FrameError::BadContentLength(value.to_owned()))?;
            length = Some(n);
        }
    }
    let body = length.ok_or(FrameError::NoContentLength)?;
    if body > MAX_BODY as u64 {
        return Err(FrameError::BodyTooLarge(body));
    }
    // At most MAX_HEAD + 4 + MAX_BODY: no overflow.
    let len = end + 4 + body as usize;
    Ok(if rest.len() >= len {
        Progress::Whole(Frame { skip, len })
    } else {
        Progress::Body
    })
}

/// Finds the next whole message in `buf`: `Ok(None)` when more bytes are needed.
pub fn next_frame(buf: &[u8]) -> Result<Option<Frame>, FrameError> {
    Ok(match progress(buf)? {
        Progress::Whole(frame) => Some(frame),
        Progress::Idle | Progress::Head | Progress::Body => None,
    })
}

/// The answer to a request that cannot be framed or parsed (or that did not arrive in time),
/// written from its raw head: the status line, and the Via, From, To, Call-ID and CSeq lines
/// that did arrive whole, copied as RFC 3261 section 8.2.6.2 asks of any response, so that the
/// client can match it to its request. `None` when what arrived is not the start of a request
/// (a response, or not SIP), which is never answered.
pub fn refusal(raw: &[u8], code: u16, reason: &str, to_tag: &str) -> Option<Vec<u8>> {
    let raw = &raw[raw
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count()..];
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..head_end.min(MAX_HEAD)]);
    let mut lines = head.split("\r\n");
    let start = lines.next()?;
    if !start.ends_with(" SIP/2.0") || start.starts_with("SIP/") {
        return None;
    }
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    // The last line may be cut short, unless the head is complete.
    let complete: Vec<&str> = lines.collect();
    let whole = if head_end < raw.len() {
        complete.len()
    } else {
        complete.len().saturating_sub(1)
    };
    for line in &complete[..whole] {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let copied = ["Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n));
        // A line with a control character (a bare CR, a NUL) or bytes that were not UTF-8
        // would make the answer itself unreadable: it is left out.
        let clean = !line
            .chars()
            .any(|c| c == '\u{fffd}' || (c.is_control() && c != '\t'));
        if !copied || !clean {
            continue;
        }
        // Written again as `Name: value`: the whitespace RFC 3261 allows around the colon
        // is not all that every reader takes.
        let value = value.trim();
        let is_to = name.eq_ignore_ascii_case("To") || name.eq_ignore_ascii_case("t");
        if is_to && !value.contains(";tag=") {
            out.push_str(&format!("{name}: {value};tag={to_tag}\r\n"));
        } else {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    Some(out.into_bytes())
}

/// A request's method. The registrar speaks REGISTER (and takes ACK); any other is carried
/// as it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// REGISTER.
    Register,
    /// ACK.
    Ack,
    /// Any other method, as written (a token of RFC 3261's grammar).
    Other(String),
}

impl Method {
    fn parse(token: &str) -> Option<Method> {
        let is_token = !token.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b));
        is_token.then(|| match token {
            "REGISTER" => Method::Register,
            "ACK" => Method::Ack,
            other => Method::Other(other.to_owned()),
        })
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Register => "REGISTER",
            Method::Ack => "ACK",
            Method::Other(m) => m,
        })
    }
}

/// A message's first line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StartLine {
    Request { method: Method, uri: String },
    Response { code: u16, reason: String },
}

/// The header names of RFC 3261's compact forms (section 7.3.3), by their one letter.
const COMPACT: [(&str, &str); 10] = [
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("e", "Content-Encoding"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("f", "From"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("t", "To"),
    ("v", "Via"),
];

/// Whether a header named `written` is the header `name` (either in its compact form).
fn same_header(written: &str, name: &str) -> bool {
    let full = |n: &str| {
        COMPACT
            .iter()
            .find(|(short, _)| short.eq_ignore_ascii_case(n))
            .map_or(n, |(_, long)| long)
            .to_owned()
    };
    full(written.trim()).eq_ignore_ascii_case(&full(name))
}

/// One SIP message (RFC 3261 section 7): its first line, its headers in order as written,
/// and its body. Read and written here, as the registrar and its clients need it: a header
/// is found by its name or its compact form, and a message is written back with its
/// Content-Length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    start: StartLine,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn malformed(why: impl Into<String>) -> WireError {
    WireError::Malformed(format!("not a SIP message: {}", why.into()))
}

impl Message {
    /// Parses one whole message (see [`next_frame`]): a request line (`METHOD URI SIP/2.0`)
    /// or a status line (`SIP/2.0 CODE REASON`), headers (`Name: value`, a line that starts
    /// with a space or tab continuing the one before, RFC 3261 section 7.3.1), an empty line,
    /// and the body.
    pub fn parse(bytes: &[u8]) -> Result<Message, WireError> {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| malformed("no end of the head"))?;
        let head = std::str::from_utf8(&bytes[..end])
            .map_err(|_| malformed("a head that is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let start = parse_start(lines.next().unwrap_or_default())?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                let (_, value) = headers
                    .last_mut()
                    .ok_or_else(|| malformed("a continuation line before any header"))?;
                value.push(' ');
                value.push_str(line.trim());
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| malformed(format!("{line:?} is not a header")))?;
            let name = name.trim_end();
            if Method::parse(name).is_none() {
                return Err(malformed(format!("{name:?} is not a header name")));
            }
            if value.contains(|c: char| c.is_control() && c != '\t') {
                return Err(malformed(format!(
                    "the header {name} holds a control character"
                )));
            }
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
        Ok(Message {
            start,
            headers,
            body: bytes[end + 4..].to_vec(),
        })
    }

    /// A request.
    pub fn request(method: Method, uri: &str) -> Result<Message, WireError> {
        if !uri.contains(':') || uri.contains(char::is_whitespace) {
            return Err(WireError::Malformed(format!("not a SIP URI {uri:?}")));
        }
        Ok(Message {
            start: StartLine::Request {
                method,
                uri: uri.to_owned(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        })
    }

    /// The answer to `request` with `code`: its Via, From, To (with `to_tag` when it has none),
    /// Call-ID and CSeq copied.
    pub fn response_to(request: &Message, code: u16, to_tag: &str) -> Message {
        let mut response = Message {
            start: StartLine::Response {
                code,
                reason: reason_phrase(code).to_owned(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            for value in request.all(name) {
                let value = if name == "To" && !value.contains(";tag=") {
                    format!("{value};tag={to_tag}")
                } else {
                    value
                };
                response.push(name, value);
            }
        }
        response
    }

    /// The request's method.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The response's status code.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Request { .. } => None,
            StartLine::Response { code, .. } => Some(*code),
        }
    }

    /// Every value of the header `name` (case-insensitive, or its compact form), in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| same_header(n, name))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The first value of the header `name` (case-insensitive, or its compact form).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| same_header(n, name))
            .map(|(_, v)| v.clone())
    }

    /// Adds a header at the end.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_owned(), value.into()));
    }

    /// The `TLS-DSK` authentication parameters in the header `name`, if it has them.
    pub fn auth(&self, name: &str) -> Option<Auth> {
        self.all(name)
            .iter()
            .find_map(|v| Auth::parse(v).filter(|a| a.scheme.eq_ignore_ascii_case(TLS_DSK)))
    }

    /// The message on the wire, with its Content-Length.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = match &self.start {
            StartLine::Request { method, uri } => format!("{method} {uri} SIP/2.0\r\n"),
            StartLine::Response { code, reason } => format!("SIP/2.0 {code} {reason}\r\n"),
        };
        for (name, value) in &self.headers {
            if !same_header(name, "Content-Length") {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// The SIP address in a header such as From or To (`sip:bob@contoso.com`), the way
    /// pidgin-sipe reads it: inside `<…>`, or up to the first `;`.
    pub fn address(&self, name: &str) -> Option<String> {
        self.header(name).and_then(|v| address_of(&v))
    }

    /// A header parameter after the address (`epid` of `From: <sip:bob@contoso.com>;tag=1;
    /// epid=2`, `+sip.instance` of a Contact), unquoted; `None` when absent or empty.
    pub fn header_param(&self, header: &str, param: &str) -> Option<String> {
        let value = self.header(header)?;
        let after = value.find('>').map_or(0, |i| i + 1);
        value[after..]
            .split(';')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(param))
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
            .filter(|v| !v.is_empty())
    }
}

/// Reads a request line or a status line.
fn parse_start(line: &str) -> Result<StartLine, WireError> {
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code
            .parse()
            .ok()
            .filter(|c| (100..700).contains(c))
            .ok_or_else(|| malformed(format!("status {code:?} is not a SIP status code")))?;
        return Ok(StartLine::Response {
            code,
            reason: reason.to_owned(),
        });
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some("SIP/2.0"), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed(format!("{line:?} is not a request line")));
    };
    let method =
        Method::parse(method).ok_or_else(|| malformed(format!("{method:?} is not a method")))?;
    if !uri.contains(':') || uri.contains(|c: char| c.is_control()) {
        return Err(malformed(format!("{uri:?} is not a SIP URI")));
    }
    Ok(StartLine::Request {
        method,
        uri: uri.to_owned(),
    })
}

/// The reason phrase RFC 3261 (section 21) gives a status code the registrar answers with.
fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        301 => "Moved Permanently",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        503 => "Service Unavailable",
        513 => "Message Too Large",
        _ => "",
    }
}

fn address_of(value: &str) -> Option<String> {
    if let Some(start) = value.find('<') {
        let rest = &value[start + 1..];
        return rest.find('>').map(|end| rest[..end].to_owned());
    }
    Some(value.split(';').next().unwrap_or(value).trim().to_owned())
}

/// The text between `before` and `after` (or the end), as pidgin-sipe finds header parts.
fn part_of(value: &str, before: &str, after: &str) -> String {
    let Some(start) = value.find(before) else {
        return String::new();
    };
    let rest = &value[start + before.len()..];
    rest.find(after).map_or(rest, |end| &rest[..end]).to_owned()
}

/// The parameters of an authentication header (`TLS-DSK realm="…", version=4, …`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// `TLS-DSK`.
    pub scheme: String,
    /// Each parameter, its value unquoted, and whether it was quoted.
    pub params: Vec<(String, String, bool)>,
}

impl Auth {
    /// A `TLS-DSK` header with no parameters yet.
    pub fn tls_dsk() -> Auth {
        Auth {
            scheme: TLS_DSK.into(),
            params: Vec::new(),
        }
    }

    /// Adds a quoted parameter.
    pub fn quoted(mut self, name: &str, value: impl Into<String>) -> Auth {
        self.params.push((name.into(), value.into(), true));
        self
    }

    /// Adds a parameter written as it is (a number).
    pub fn bare(mut self, name: &str, value: impl Into<String>) -> Auth {
        self.params.push((name.into(), value.into(), false));
        self
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v, _)| v.as_str())
    }

    /// Reads a header value; `None` when it has no scheme.
    pub fn parse(value: &str) -> Option<Auth> {
        let (scheme, mut rest) = value.trim().split_once(' ')?;
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            let Some((name, after)) = rest.split_once('=') else {
                break;
            };
            let name = name.trim().to_owned();
            if let Some(quoted) = after.strip_prefix('"') {
                let end = quoted.find('"')?;
                params.push((name, quoted[..end].to_owned(), true));
                rest = &quoted[end + 1..];
            } else {
                let end = after.find(',').unwrap_or(after.len());
                params.push((name, after[..end].trim().to_owned(), false));
                rest = &after[end..];
            }
        }
        Some(Auth {
            scheme: scheme.to_owned(),
            params,
        })
    }
}

impl std::fmt::Display for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.scheme)?;
        for (i, (name, value, quoted)) in self.params.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            if *quoted {
                write!(f, "{sep}{name}=\"{value}\"")?;
            } else {
                write!(f, "{sep}{name}={value}")?;
            }
        }
        Ok(())
    }
}

/// What a signature covers besides the message: the protocol, the signer's random and
/// sequence number, and the security association's realm and target name.
#[derive(Debug, Clone, Copy)]
pub struct SignedBy<'a> {
    /// A random string of the signer's (`crand` / `srand`).
    pub rand: &'a str,
    /// The signer's message number (`cnum` / `snum`).
    pub num: &'a str,
    /// The realm.
    pub realm: &'a str,
    /// The registrar's target name.
    pub target: &'a str,
}

/// The text a version-4 signature covers ([MS-SIPAE] 3.2.5.1.1 as pidgin-sipe builds it):
/// `<TLS-DSK><rand><num><realm><target><Call-ID><CSeq number><method><From URL><From tag>
/// <To URL><To tag><P-Asserted-Identity sip><… tel><Expires>` and, for a response, `<code>`.
pub fn signature_input(message: &Message, by: SignedBy<'_>) -> String {
    let cseq = message.header("CSeq").unwrap_or_default();
    let (cseq_num, cseq_method) = cseq.split_once(' ').unwrap_or((cseq.as_str(), ""));
    let method = match message.method() {
        Some(m) => m.to_string(),
        None => cseq_method.trim().to_owned(),
    };
    let from = message.header("From").unwrap_or_default();
    let to = message.header("To").unwrap_or_default();
    let (mut pai_sip, mut pai_tel) = (String::new(), String::new());
    if let Some(pai) = message
        .header("P-Asserted-Identity")
        .or_else(|| message.header("P-Preferred-Identity"))
    {
        for part in pai.split(',') {
            let address = address_of(part).unwrap_or_default();
            if address.starts_with("sip:") {
                pai_sip = address;
            } else if address.starts_with("tel:") {
                pai_tel = address;
            }
        }
    }
    let mut text = format!(
        "<{TLS_DSK}><{}><{}><{}><{}><{}><{}><{}><{}><{}><{}><{}><{pai_sip}><{pai_tel}><{}>",
        by.rand,
        by.num,
        by.realm,
        by.target,
        message.header("Call-ID").unwrap_or_default(),
        cseq_num.trim(),
        method,
        address_of(&from).unwrap_or_default(),
        part_of(&from, ";tag=", ";"),
        address_of(&to).unwrap_or_default(),
        part_of(&to, ";tag=", ";"),
        message.header("Expires").unwrap_or_default(),
    );
    if let Some(code) = message.status() {
        text.push_str(&format!("<{code}>"));
    }
    text
}

/// HMAC-SHA1 of `input` with a TLS-DSK key, in upper-case hex as the headers carry it.
pub fn sign(key: &[u8], input: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    hex::encode_upper(hmac::sign(&key, input.as_bytes()))
}

/// Whether `signature` (hex, either case) is the HMAC-SHA1 of `input` with `key`, compared in
/// constant time.
pub fn verify(key: &[u8], input: &str, signature: &str) -> bool {
    let Ok(bytes) = hex::decode(signature) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    hmac::verify(&key, input.as_bytes(), &bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_written_as_rfc_3261_asks() {
        // RFC 3261 section 20.17's own example.
        assert_eq!(sip_date(1_289_690_940_000), "Sat, 13 Nov 2010 23:29:00 GMT");
    }

    /// A REGISTER as pidgin-sipe 1.25 sends it (`sip-transport.c`).
    const SIPE_REGISTER: &str = "REGISTER sip:contoso.com SIP/2.0\r\n\
Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bK1A2B3C4D;rport\r\n\
From: <sip:bob@contoso.com>;tag=5f1e8b4a;epid=0a1b2c3d4e\r\n\
To: <sip:bob@contoso.com>\r\n\
Max-Forwards: 70\r\n\
CSeq: 3 REGISTER\r\n\
User-Agent: Purple/2.14.12 Sipe/1.25.0 (linux-gnu-x86_64) \r\n\
Call-ID: 4a3b2c1d0e\r\n\
Contact: <sip:127.0.0.1:40000;transport=tls;ms-opaque=d3470f2e1d>;methods=\"INVITE, MESSAGE, INFO, SUBSCRIBE, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER, BENOTIFY\";proxy=replace;+sip.instance=\"<urn:uuid:0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6>\"\r\n\
Supported: gruu-10, adhoclist, msrtc-event-categories, com.microsoft.msrtc.presence\r\n\
Supported: ms-keep-alive\r\n\
Event: registration\r\n\
Authorization: TLS-DSK qop=\"auth\", opaque=\"0123ABCD\", realm=\"SIP Communications Service\", targetname=\"sippoolbl20a01.infra.lync.com\", crand=\"1a2b3c4d\", cnum=\"1\", response=\"00\"\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn frames_skip_keep_alives_and_wait_for_the_body() {
        let mut bytes = b"\r\n\r\n".to_vec();
        bytes.extend_from_slice(SIPE_REGISTER.as_bytes());
        let frame = next_frame(&bytes).unwrap().unwrap();
        assert_eq!(frame.skip, 4);
        assert_eq!(frame.len, SIPE_REGISTER.len());
        let with_body = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 5\r\n\r\nhel";
        assert_eq!(next_frame(with_body.as_bytes()).unwrap(), None);
        let no_length = "REGISTER sip:b SIP/2.0\r\nCSeq: 1 REGISTER\r\n\r\n";
        assert!(next_frame(no_length.as_bytes()).is_err());
        assert!(next_frame(&vec![b'A'; MAX_HEAD + 1]).is_err());
    }

    /// Each framing error and its answer, and how far a message has come.
    #[test]
    fn framing_errors_have_their_rfc_3261_answers() {
        let check = |text: &[u8], expected: Result<Progress, FrameError>| {
            assert_eq!(
                progress(text),
                expected,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        };
        check(b"", Ok(Progress::Idle));
        check(b"\r\n\r\n", Ok(Progress::Idle));
        check(b"REGISTER sip:b SIP/2.0\r\nVia: x", Ok(Progress::Head));
        check(
            b"REGISTER sip:b SIP/2.0\r\nContent-Length: 3\r\n\r\nab",
            Ok(Progress::Body),
        );
        let two = b"REGISTER sip:b SIP/2.0\r\nContent-Length: 0\r\nl: 10\r\n\r\n";
        check(two, Err(FrameError::DuplicateContentLength));
        check(
            b"REGISTER sip:b SIP/2.0\r\nContent-Length: -1\r\n\r\n",
            Err(FrameError::BadContentLength("-1".into())),
        );
        check(
            b"REGISTER sip:b SIP/2.0\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            Err(FrameError::BadContentLength(
                "99999999999999999999999".into(),
            )),
        );
        check(
            b"REGISTER sip:b SIP/2.0\r\nContent-Length: 60000000\r\n\r\n",
            Err(FrameError::BodyTooLarge(60_000_000)),
        );
        check(
            b"REGISTER sip:b SIP/2.0\r\nFrom: \xff\r\nContent-Length: 0\r\n\r\n",
            Err(FrameError::NotUtf8),
        );
        assert_eq!(FrameError::HeadTooLarge.status().0, 513);
        assert_eq!(FrameError::BodyTooLarge(1).status().0, 513);
        assert_eq!(FrameError::NoContentLength.status().0, 400);
    }

    #[test]
    fn a_refusal_copies_what_arrived_whole_of_the_dialog() {
        let head = b"REGISTER sip:b SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\nl: 10\r\n\r\n";
        let answer = refusal(head, 400, "Bad Request", "9f").unwrap();
        let answer = Message::parse(&answer).unwrap();
        assert_eq!(answer.status(), Some(400));
        assert_eq!(
            answer.header("Via").unwrap(),
            "SIP/2.0/TLS h;branch=z9hG4bK1"
        );
        assert_eq!(answer.header("To").unwrap(), "<sip:a@b>;tag=9f");
        assert_eq!(answer.header("CSeq").unwrap(), "1 REGISTER");
        // A head cut short: its last line may be partial, and is left out.
        let cut = b"REGISTER sip:b SIP/2.0\r\nCall-ID: c1\r\nCSeq: 1 REG";
        let answer = Message::parse(&refusal(cut, 408, "Request Timeout", "9f").unwrap()).unwrap();
        assert_eq!(answer.header("Call-ID").unwrap(), "c1");
        assert_eq!(answer.header("CSeq"), None);
        // A line with a bare CR is left out rather than copied into an answer it would break.
        let bare_cr = b"REGISTER sip:b SIP/2.0\r\nT\r: <sip:a@b>\r\nCall-ID \t:  c1\r\n\r\n";
        let answer = refusal(bare_cr, 400, "Bad Request", "9f").unwrap();
        let answer = Message::parse(&answer).unwrap();
        assert_eq!(answer.header("To"), None);
        assert_eq!(answer.header("Call-ID").unwrap(), "c1");
        // A response, or what is not SIP, is never answered.
        assert_eq!(refusal(b"SIP/2.0 200 OK\r\n\r\n", 400, "x", "t"), None);
        assert_eq!(refusal(b"\x16\x03\x01", 400, "x", "t"), None);
    }

    #[test]
    fn reads_what_sipe_sends() {
        let m = Message::parse(SIPE_REGISTER.as_bytes()).unwrap();
        assert_eq!(m.method(), Some(&Method::Register));
        assert_eq!(m.address("From").as_deref(), Some("sip:bob@contoso.com"));
        assert_eq!(m.all("Supported").len(), 2);
        let auth = m.auth("Authorization").unwrap();
        assert_eq!(
            auth.get("targetname"),
            Some("sippoolbl20a01.infra.lync.com")
        );
        assert_eq!(auth.get("cnum"), Some("1"));
        let input = signature_input(
            &m,
            SignedBy {
                rand: "1a2b3c4d",
                num: "1",
                realm: REALM,
                target: "sippoolbl20a01.infra.lync.com",
            },
        );
        assert_eq!(
            input,
            "<TLS-DSK><1a2b3c4d><1><SIP Communications Service><sippoolbl20a01.infra.lync.com><4a3b2c1d0e><3><REGISTER><sip:bob@contoso.com><5f1e8b4a><sip:bob@contoso.com><><><><>"
        );
    }

    #[test]
    fn a_response_echoes_the_dialog_and_signs_its_code() {
        let request = Message::parse(SIPE_REGISTER.as_bytes()).unwrap();
        let mut ok = Message::response_to(&request, 200, "9f8e");
        ok.push("Expires", "7200");
        let wire = ok.to_bytes();
        let back = Message::parse(&wire).unwrap();
        assert_eq!(back.status(), Some(200));
        assert_eq!(back.header("To").unwrap(), "<sip:bob@contoso.com>;tag=9f8e");
        assert_eq!(back.header("Content-Length").as_deref(), Some("0"));
        let input = signature_input(
            &back,
            SignedBy {
                rand: "aa",
                num: "1",
                realm: REALM,
                target: "t",
            },
        );
        assert!(input.ends_with("<REGISTER><sip:bob@contoso.com><5f1e8b4a><sip:bob@contoso.com><9f8e><><><7200><200>"), "{input}");
    }

    #[test]
    fn auth_headers_round_trip() {
        let header = Auth::tls_dsk()
            .quoted("realm", REALM)
            .quoted("targetname", "sipdir.online.lync.com")
            .bare("version", "4")
            .quoted("sts-uri", "https://x/CertProv/CertProvisioningService.svc");
        let text = header.to_string();
        assert_eq!(
            text,
            "TLS-DSK realm=\"SIP Communications Service\", targetname=\"sipdir.online.lync.com\", version=4, sts-uri=\"https://x/CertProv/CertProvisioningService.svc\""
        );
        assert_eq!(Auth::parse(&text), Some(header));
    }

    #[test]
    fn a_signature_checks_only_with_its_key_and_text() {
        let key = [7u8; 32];
        let s = sign(&key, "<TLS-DSK><a>");
        assert_eq!(s.len(), 40);
        assert!(verify(&key, "<TLS-DSK><a>", &s));
        assert!(verify(&key, "<TLS-DSK><a>", &s.to_lowercase()));
        assert!(!verify(&[8u8; 32], "<TLS-DSK><a>", &s));
        assert!(!verify(&key, "<TLS-DSK><b>", &s));
        assert!(!verify(&key, "<TLS-DSK><a>", "zz"));
    }

    #[test]
    fn header_params_are_read_after_the_address() {
        let mut m = Message::request(Method::Register, "sip:contoso.com").unwrap();
        m.push(
            "From",
            "<sip:bob@contoso.com;epid=no>;tag=1;epid=01ab23cd45",
        );
        m.push(
            "Contact",
            "<sip:127.0.0.1:5061;transport=tls>;methods=\"INVITE, MESSAGE\";+sip.instance=\"<urn:uuid:0F1E>\"",
        );
        m.push("To", "<sip:bob@contoso.com>;epid=");
        assert_eq!(
            m.header_param("From", "epid").as_deref(),
            Some("01ab23cd45")
        );
        assert_eq!(
            m.header_param("Contact", "+sip.instance").as_deref(),
            Some("<urn:uuid:0F1E>")
        );
        assert_eq!(m.header_param("To", "epid"), None);
        assert_eq!(m.header_param("Via", "epid"), None);
    }
}
