//! SIP messages: parsing (a wrapper around `rsipstack::sip`) and building.
//!
//! rsipstack splits the header section into lines, unfolds continuation lines and maps compact
//! header names (`v: f: t: i: m: l: c: k: s:`) to their full names; it also validates Request-URIs
//! (`sip:`, `sips:`, `tel:`). Everything else (the start line, the values we route on, the body
//! slicing by Content-Length) is read here so that every failure has a typed [`ParseError`] and so
//! that an unknown method can still be answered with 501. An rsipstack upgrade touches only this
//! file.

use std::fmt;
use std::net::SocketAddr;

use crate::Transport;

/// Why a datagram could not be used as a SIP message. Used as the reason phrase of a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message is not a SIP message (no header terminator)")]
    NoHeaderEnd,
    #[error("malformed start line")]
    BadStartLine,
    #[error("unknown method")]
    UnknownMethod,
    #[error("unsupported SIP version")]
    BadVersion,
    #[error("malformed Request-URI")]
    BadRequestUri,
    #[error("unsupported URI scheme")]
    UnsupportedUriScheme,
    #[error("malformed header section")]
    BadHeaders,
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("malformed {0} header")]
    BadHeader(&'static str),
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
    #[error("Content-Length larger than the body")]
    ContentLengthTooLarge,
    #[error("message of {size} bytes exceeds the limit of {max}")]
    TooLarge { size: usize, max: usize },
}

/// A SIP method; unknown extension methods keep their token so they can be answered with 501.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Info,
    Register,
    Subscribe,
    Notify,
    Publish,
    Message,
    Refer,
    Prack,
    Update,
    Other(String),
}

impl Method {
    pub fn from_token(token: &str) -> Method {
        const KNOWN: [(&str, Method); 14] = [
            ("INVITE", Method::Invite),
            ("ACK", Method::Ack),
            ("BYE", Method::Bye),
            ("CANCEL", Method::Cancel),
            ("OPTIONS", Method::Options),
            ("INFO", Method::Info),
            ("REGISTER", Method::Register),
            ("SUBSCRIBE", Method::Subscribe),
            ("NOTIFY", Method::Notify),
            ("PUBLISH", Method::Publish),
            ("MESSAGE", Method::Message),
            ("REFER", Method::Refer),
            ("PRACK", Method::Prack),
            ("UPDATE", Method::Update),
        ];
        // RFC 3261 7.1: method names are case-sensitive.
        KNOWN
            .into_iter()
            .find(|(name, _)| *name == token)
            .map(|(_, m)| m)
            .unwrap_or_else(|| Method::Other(token.to_string()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Register => "REGISTER",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Publish => "PUBLISH",
            Method::Message => "MESSAGE",
            Method::Refer => "REFER",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fields every request and response must carry (RFC 3261 8.1.1), already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Core {
    /// Every Via header value, in order (one header may hold several comma-separated entries).
    pub vias: Vec<String>,
    pub branch: String,
    pub from: String,
    pub from_tag: Option<String>,
    pub to: String,
    pub to_tag: Option<String>,
    pub call_id: String,
    pub cseq: u32,
    pub cseq_method: Method,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: Method, uri: String },
    Response { status: u16, reason: String },
}

/// A parsed message: start line, the routed-on fields, all headers (full names) and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    pub core: Core,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A message that could not be used. `reply` holds a 400 (or 501) when enough of the message
/// could be read to address one (RFC 3261 8.2: Via, From, To, Call-ID, CSeq).
#[derive(Debug)]
pub struct Rejected {
    pub error: ParseError,
    pub reply: Option<Vec<u8>>,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    /// The URI of the Contact header, if any.
    pub fn contact_uri(&self) -> Option<&str> {
        self.header("Contact").and_then(name_addr_uri)
    }

    /// The Contact URI when it can be used as a Request-URI (RFC 3261 12.1.1 remote target).
    pub fn remote_target(&self) -> Option<&str> {
        self.contact_uri().filter(|uri| is_usable_uri(uri))
    }

    /// The body, when there is one (an empty body is `None`).
    pub fn sdp(&self) -> Option<Vec<u8>> {
        (!self.body.is_empty()).then(|| self.body.clone())
    }

    /// Record-Route entries in order (RFC 3261 12.1.1), split at top-level commas.
    pub fn record_routes(&self) -> Vec<String> {
        self.headers_named("Record-Route")
            .flat_map(split_top_level_commas)
            .map(str::to_string)
            .collect()
    }
}

/// Parse one complete message (a UDP datagram, or one framed from a TCP stream).
pub fn parse(bytes: &[u8]) -> Result<Message, Rejected> {
    let header_end = find(bytes, b"\r\n\r\n").ok_or(Rejected {
        error: ParseError::NoHeaderEnd,
        reply: None,
    })?;
    let first_crlf = find(bytes, b"\r\n").unwrap_or(header_end);
    let start_line = std::str::from_utf8(bytes.get(..first_crlf).unwrap_or_default())
        .map_err(|_| bare(ParseError::BadStartLine))?;
    let headers = parse_headers(bytes.get(first_crlf..header_end + 4).unwrap_or_default())
        .map_err(bare)?;
    let fail = |error: ParseError, status: u16, headers: &[(String, String)]| Rejected {
        reply: error_reply(headers, status, &error),
        error,
    };
    let start = match parse_start_line(start_line) {
        Ok(start) => start,
        Err(error) => return Err(fail(error, 400, &headers)),
    };
    let core = match parse_core(&headers) {
        Ok(core) => core,
        Err(error) => {
            // A response, or a request we cannot address, is dropped.
            let status = if matches!(start, StartLine::Request { .. }) { 400 } else { 0 };
            return Err(fail(error, status, &headers));
        }
    };
    let body_start = header_end + 4;
    let available = bytes.len().saturating_sub(body_start);
    let body_len = match header_value(&headers, "Content-Length") {
        // RFC 3261 18.3: over UDP a missing Content-Length means "the rest of the datagram".
        None => available,
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n <= available => n,
            Ok(_) => return Err(fail(ParseError::ContentLengthTooLarge, 400, &headers)),
            Err(_) => return Err(fail(ParseError::BadHeader("Content-Length"), 400, &headers)),
        },
    };
    let body = bytes
        .get(body_start..body_start + body_len)
        .unwrap_or_default()
        .to_vec();
    if let StartLine::Request { method, .. } = &start {
        if let Method::Other(_) = method {
            return Err(Rejected {
                reply: Some(build_response_from_parts(
                    &core,
                    None,
                    501,
                    "Not Implemented",
                    &[("Allow", ALLOW.to_string())],
                    None,
                )),
                error: ParseError::UnknownMethod,
            });
        }
        // RFC 3261 8.2 / RFC 4475 3.1.2.x: CSeq method must match (ACK and CANCEL included).
        if *method != core.cseq_method {
            return Err(fail(ParseError::CSeqMethodMismatch, 400, &headers));
        }
    }
    Ok(Message {
        start,
        core,
        headers,
        body,
    })
}

fn bare(error: ParseError) -> Rejected {
    Rejected { error, reply: None }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Lets rsipstack split, unfold and name the headers: we hand it a fixed start line so that its
/// strict method and URI parsing cannot hide the headers we need to answer with 400 or 501.
fn parse_headers(section: &[u8]) -> Result<Vec<(String, String)>, ParseError> {
    use rsipstack::sip::SipMessage;
    let mut synthetic = b"OPTIONS sip:header.check SIP/2.0".to_vec();
    synthetic.extend_from_slice(section);
    let parsed = SipMessage::try_from(synthetic.as_slice()).map_err(|_| ParseError::BadHeaders)?;
    let SipMessage::Request(req) = parsed else {
        return Err(ParseError::BadHeaders);
    };
    Ok(req
        .headers
        .iter()
        .map(|h| (h.name().to_string(), h.value().to_string()))
        .collect())
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    let mut parts = line.split([' ', '\t']).filter(|p| !p.is_empty());
    let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
        return Err(ParseError::BadStartLine);
    };
    if a.len() >= 4 && a.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("SIP/")) {
        if !a.eq_ignore_ascii_case("SIP/2.0") {
            return Err(ParseError::BadVersion);
        }
        let status: u16 = b.parse().map_err(|_| ParseError::BadStartLine)?;
        if !(100..=699).contains(&status) || b.len() != 3 {
            return Err(ParseError::BadStartLine);
        }
        let reason = parts.collect::<Vec<_>>().join(" ");
        return Ok(StartLine::Response { status, reason });
    }
    let (Some(version), None) = (parts.next(), parts.next()) else {
        return Err(ParseError::BadStartLine);
    };
    if !is_token(a) {
        return Err(ParseError::BadStartLine);
    }
    if version != "SIP/2.0" {
        return Err(ParseError::BadVersion);
    }
    if !has_supported_scheme(b) {
        return Err(ParseError::UnsupportedUriScheme);
    }
    if rsipstack::sip::parse_uri(b).is_err() {
        return Err(ParseError::BadRequestUri);
    }
    Ok(StartLine::Request {
        method: Method::from_token(a),
        uri: b.to_string(),
    })
}

/// Request-URIs we accept: `sip:`, `sips:` and `tel:` (RFC 3966).
pub fn has_supported_scheme(uri: &str) -> bool {
    let lower = |n: usize| uri.get(..n).map(str::to_ascii_lowercase);
    lower(4).as_deref() == Some("sip:")
        || lower(5).as_deref() == Some("sips:")
        || lower(4).as_deref() == Some("tel:")
}

/// A URI we can put in a Request-URI: supported scheme, parseable, nothing that breaks a line.
pub fn is_usable_uri(uri: &str) -> bool {
    has_supported_scheme(uri)
        && !uri.chars().any(|c| c.is_whitespace() || c.is_control() || "<>\"".contains(c))
        && rsipstack::sip::parse_uri(uri).is_ok()
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn parse_core(headers: &[(String, String)]) -> Result<Core, ParseError> {
    let vias: Vec<String> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Via"))
        .map(|(_, v)| v.clone())
        .collect();
    let top_via = vias
        .first()
        .and_then(|v| split_top_level_commas(v).next())
        .ok_or(ParseError::MissingHeader("Via"))?;
    let branch = via_branch(top_via).ok_or(ParseError::BadHeader("Via"))?;
    let from = header_value(headers, "From").ok_or(ParseError::MissingHeader("From"))?;
    let to = header_value(headers, "To").ok_or(ParseError::MissingHeader("To"))?;
    if name_addr_uri(from).is_none() {
        return Err(ParseError::BadHeader("From"));
    }
    if name_addr_uri(to).is_none() {
        return Err(ParseError::BadHeader("To"));
    }
    let call_id = header_value(headers, "Call-ID")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or(ParseError::MissingHeader("Call-ID"))?;
    let cseq_raw = header_value(headers, "CSeq").ok_or(ParseError::MissingHeader("CSeq"))?;
    let mut cseq_parts = cseq_raw.split_whitespace();
    let (Some(num), Some(method), None) = (cseq_parts.next(), cseq_parts.next(), cseq_parts.next())
    else {
        return Err(ParseError::BadHeader("CSeq"));
    };
    // RFC 3261 8.1.1.5: the sequence number must be less than 2**31.
    let cseq = num
        .parse::<u32>()
        .ok()
        .filter(|n| *n < 1 << 31)
        .ok_or(ParseError::BadHeader("CSeq"))?;
    if !is_token(method) {
        return Err(ParseError::BadHeader("CSeq"));
    }
    Ok(Core {
        branch: branch.to_string(),
        from_tag: header_param(from, "tag").map(str::to_string),
        to_tag: header_param(to, "tag").map(str::to_string),
        from: from.to_string(),
        to: to.to_string(),
        call_id: call_id.to_string(),
        cseq,
        cseq_method: Method::from_token(method),
        vias,
    })
}

/// Splits a header value at commas that are outside quotes and angle brackets.
pub fn split_top_level_commas(value: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut quoted, mut angle, mut escaped, mut start) = (false, false, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(value.get(start..i).unwrap_or_default().trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value.get(start..).unwrap_or_default().trim());
    parts.into_iter().filter(|p| !p.is_empty())
}

/// Splits a name-addr / addr-spec header value into (URI, parameter section).
fn split_name_addr(value: &str) -> Option<(&str, &str)> {
    let value = value.trim();
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => {
                let rest = value.get(i + 1..)?;
                let end = rest.find('>')?;
                let uri = rest.get(..end)?.trim();
                let params = rest.get(end + 1..)?;
                return (!uri.is_empty()).then_some((uri, params));
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    // addr-spec form: parameters after the first ';' belong to the header, not the URI.
    let (uri, params) = value.split_once(';').unwrap_or((value, ""));
    let uri = uri.trim();
    (!uri.is_empty() && uri.contains(':')).then_some((uri, params))
}

/// The URI of a From/To/Contact/Route value.
pub fn name_addr_uri(value: &str) -> Option<&str> {
    split_name_addr(value).map(|(uri, _)| uri)
}

/// A header parameter (e.g. `tag`) of a From/To/Contact value.
pub fn header_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let (_, params) = split_name_addr(value)?;
    find_param(params, name)
}

fn find_param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim())
            .filter(|v| !v.is_empty())
    })
}

/// The branch parameter of one Via entry.
fn via_branch(via: &str) -> Option<&str> {
    let (_, params) = via.split_once(';')?;
    find_param(params, "branch")
}

/// RFC 3261 18.2.1 and RFC 3581: the top Via of a response records where the request came from.
fn stamp_received(via: &str, from: SocketAddr) -> String {
    let (sent, params) = via.split_once(';').unwrap_or((via, ""));
    let mut out = sent.trim_end().to_string();
    for p in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let key = p.split_once('=').map_or(p, |(k, _)| k).trim();
        if key.eq_ignore_ascii_case("received") {
            continue;
        }
        if key.eq_ignore_ascii_case("rport") {
            out.push_str(&format!(";rport={}", from.port()));
        } else {
            out.push(';');
            out.push_str(p);
        }
    }
    out.push_str(&format!(";received={}", from.ip()));
    out
}

/// Methods we implement (Allow header of 200 OK, 405 and 501).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER";

/// The standard reason phrase for the status codes this crate sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => match status / 100 {
            1 => "Session Progress",
            2 => "OK",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

fn error_reply(headers: &[(String, String)], status: u16, error: &ParseError) -> Option<Vec<u8>> {
    if status == 0 {
        return None;
    }
    // Copy the five headers verbatim (even a malformed CSeq): RFC 3261 8.2 only needs them
    // present to address the response.
    let one = |name: &str| header_value(headers, name).filter(|v| !v.trim().is_empty());
    let vias: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Via"))
        .map(|(_, v)| v.as_str())
        .collect();
    let (from, to, call_id, cseq) = (one("From")?, one("To")?, one("Call-ID")?, one("CSeq")?);
    if vias.is_empty() {
        return None;
    }
    let mut head = format!("SIP/2.0 {status} Bad Request ({error})\r\n");
    for via in vias {
        head.push_str(&format!("Via: {via}\r\n"));
    }
    head.push_str(&format!(
        "From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n"
    ));
    Some(finish(head, &[], None))
}

/// Build a response to a request: Via (with received/rport stamped on the top entry when `from`
/// is given), From, To (plus our tag if it has none), Call-ID, CSeq, then `extra`, then the body.
pub fn build_response(
    req: &Message,
    from: Option<SocketAddr>,
    status: u16,
    to_tag: Option<&str>,
    extra: &[(&str, String)],
    body: Option<(&str, &[u8])>,
) -> Vec<u8> {
    let mut core = req.core.clone();
    if let (Some(src), Some(first)) = (from, core.vias.first_mut()) {
        let mut entries: Vec<String> = split_top_level_commas(first).map(str::to_string).collect();
        if let Some(top) = entries.first_mut() {
            *top = stamp_received(top, src);
        }
        *first = entries.join(", ");
    }
    build_response_from_parts(&core, to_tag, status, reason_phrase(status), extra, body)
}

fn build_response_from_parts(
    core: &Core,
    to_tag: Option<&str>,
    status: u16,
    reason: &str,
    extra: &[(&str, String)],
    body: Option<(&str, &[u8])>,
) -> Vec<u8> {
    let mut head = format!("SIP/2.0 {status} {reason}\r\n");
    for via in &core.vias {
        head.push_str(&format!("Via: {via}\r\n"));
    }
    head.push_str(&format!("From: {}\r\n", core.from));
    match (to_tag, &core.to_tag) {
        (Some(tag), None) => head.push_str(&format!("To: {};tag={tag}\r\n", core.to)),
        _ => head.push_str(&format!("To: {}\r\n", core.to)),
    }
    head.push_str(&format!("Call-ID: {}\r\n", core.call_id));
    head.push_str(&format!("CSeq: {} {}\r\n", core.cseq, core.cseq_method));
    finish(head, extra, body)
}

fn finish(mut head: String, extra: &[(&str, String)], body: Option<(&str, &[u8])>) -> Vec<u8> {
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.filter(|(_, b)| !b.is_empty());
    if let Some((content_type, _)) = body {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\n\r\n",
        body.map_or(0, |(_, b)| b.len())
    ));
    let mut out = head.into_bytes();
    if let Some((_, b)) = body {
        out.extend_from_slice(b);
    }
    out
}

/// Everything needed to print a request we originate (or an ACK/CANCEL derived from one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRequest {
    pub method: Method,
    pub uri: String,
    pub transport: Transport,
    pub local_addr: SocketAddr,
    pub branch: String,
    /// Full From value including our tag.
    pub from: String,
    /// Full To value (with the remote tag inside a dialog).
    pub to: String,
    pub call_id: String,
    pub cseq: u32,
    pub contact: Option<String>,
    pub routes: Vec<String>,
    pub extra: Vec<(&'static str, String)>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl OutRequest {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!("{} {} SIP/2.0\r\n", self.method, self.uri);
        head.push_str(&format!(
            "Via: SIP/2.0/{} {};branch={};rport\r\n",
            self.transport.via_name(),
            host_port(self.local_addr),
            self.branch
        ));
        head.push_str("Max-Forwards: 70\r\n");
        for route in &self.routes {
            head.push_str(&format!("Route: {route}\r\n"));
        }
        head.push_str(&format!("From: {}\r\n", self.from));
        head.push_str(&format!("To: {}\r\n", self.to));
        head.push_str(&format!("Call-ID: {}\r\n", self.call_id));
        // RFC 3261 17.1.1.3: the ACK to a non-2xx carries the INVITE's CSeq number.
        head.push_str(&format!("CSeq: {} {}\r\n", self.cseq, self.method));
        if let Some(contact) = &self.contact {
            head.push_str(&format!("Contact: {contact}\r\n"));
        }
        let extra: Vec<(&str, String)> = self.extra.iter().map(|(n, v)| (*n, v.clone())).collect();
        let body = self
            .content_type
            .as_deref()
            .map(|ct| (ct, self.body.as_slice()));
        finish(head, &extra, body)
    }

    /// RFC 3261 17.1.1.3: the ACK for a non-2xx final response, built by the INVITE client
    /// transaction: same branch, Request-URI, From, Call-ID, CSeq number and Route; To from the
    /// response.
    pub fn ack_for_failure(&self, response_to: &str) -> OutRequest {
        OutRequest {
            method: Method::Ack,
            to: response_to.to_string(),
            contact: None,
            extra: Vec::new(),
            content_type: None,
            body: Vec::new(),
            ..self.clone()
        }
    }

    /// RFC 3261 9.1: CANCEL copies the INVITE's Request-URI, top Via branch, From, To, Call-ID,
    /// CSeq number and Route.
    pub fn cancel(&self) -> OutRequest {
        OutRequest {
            method: Method::Cancel,
            contact: None,
            extra: Vec::new(),
            content_type: None,
            body: Vec::new(),
            ..self.clone()
        }
    }
}

/// `host:port` with IPv6 hosts in brackets.
pub fn host_port(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:012@ivr.example SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport\r\n\
        Max-Forwards: 70\r\n\
        From: \"Anna; <x>\" <sip:anna@example.com>;tag=f1\r\n\
        To: <sip:012@ivr.example>\r\n\
        Call-ID: c1@192.0.2.1\r\n\
        CSeq: 1 INVITE\r\n\
        Contact: <sip:anna@192.0.2.1:5060>\r\n\
        Content-Type: application/sdp\r\n\
        Content-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn parses_the_fields_we_route_on() {
        let msg = parse(INVITE.as_bytes()).expect("valid INVITE");
        assert_eq!(msg.method(), Some(&Method::Invite));
        assert_eq!(msg.core.branch, "z9hG4bKabc");
        assert_eq!(msg.core.from_tag.as_deref(), Some("f1"));
        assert_eq!(msg.core.to_tag, None);
        assert_eq!(msg.core.cseq, 1);
        assert_eq!(msg.contact_uri(), Some("sip:anna@192.0.2.1:5060"));
        assert_eq!(msg.body, b"v=0\n");
    }

    #[test]
    fn response_copies_dialog_headers_and_stamps_received_and_rport() {
        let msg = parse(INVITE.as_bytes()).expect("valid INVITE");
        let from: SocketAddr = "198.51.100.7:40000".parse().expect("addr");
        let resp = build_response(&msg, Some(from), 180, Some("t9"), &[], None);
        let text = String::from_utf8(resp.clone()).expect("utf8");
        assert!(text.starts_with("SIP/2.0 180 Ringing\r\n"));
        assert!(text.contains("branch=z9hG4bKabc;rport=40000;received=198.51.100.7"));
        assert!(text.contains("To: <sip:012@ivr.example>;tag=t9\r\n"));
        let parsed = parse(&resp).expect("our response parses");
        assert_eq!(parsed.status(), Some(180));
        assert_eq!(parsed.core.to_tag.as_deref(), Some("t9"));
    }

    #[test]
    fn unknown_method_gets_501_with_allow() {
        let text = INVITE.replace("INVITE", "FOOBAR");
        let rejected = parse(text.as_bytes()).expect_err("unknown method");
        let reply = String::from_utf8(rejected.reply.expect("a reply")).expect("utf8");
        assert!(reply.starts_with("SIP/2.0 501 Not Implemented"), "{reply}");
        assert!(reply.contains("Allow: "));
    }

    #[test]
    fn cseq_mismatch_is_400() {
        let text = INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 OPTIONS");
        let rejected = parse(text.as_bytes()).expect_err("mismatch");
        assert_eq!(rejected.error, ParseError::CSeqMethodMismatch);
        let reply = String::from_utf8(rejected.reply.expect("a reply")).expect("utf8");
        assert!(reply.starts_with("SIP/2.0 400 Bad Request (CSeq method"), "{reply}");
    }

    #[test]
    fn missing_call_id_cannot_be_answered() {
        let text = INVITE.replace("Call-ID: c1@192.0.2.1\r\n", "");
        let rejected = parse(text.as_bytes()).expect_err("no Call-ID");
        assert_eq!(rejected.error, ParseError::MissingHeader("Call-ID"));
        assert!(rejected.reply.is_none());
    }

    #[test]
    fn name_addr_handles_quotes_and_addr_spec() {
        assert_eq!(name_addr_uri("\"a<b\" <sip:x@y>;tag=1"), Some("sip:x@y"));
        assert_eq!(header_param("\"a<b\" <sip:x@y>;tag=1", "tag"), Some("1"));
        assert_eq!(name_addr_uri("sip:x@y;tag=2"), Some("sip:x@y"));
        assert_eq!(header_param("sip:x@y;tag=2", "TAG"), Some("2"));
        assert_eq!(name_addr_uri("\"unterminated <sip:x@y>"), None);
    }
}
