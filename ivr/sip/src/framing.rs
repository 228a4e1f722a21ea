//! Framing SIP messages out of a TCP byte stream (RFC 3261 18.3): the header section ends at the
//! first empty line and the body is exactly Content-Length bytes. CRLF keep-alives (RFC 5626
//! 3.5.1: a double CRLF "ping" answered by a single CRLF "pong") are recognised between messages.
//!
//! The shell keeps one [`StreamFramer`] per TCP connection and passes each complete message to
//! `UserAgent::handle_datagram` with `Transport::Tcp`. On a [`FramingError`] it closes the
//! connection: a stream that lost its framing cannot be resynchronised.

/// A complete unit read from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One whole SIP message.
    Message(Vec<u8>),
    /// A CRLFCRLF ping; answer with [`PONG`] on the same connection.
    KeepAlive,
}

/// The RFC 5626 pong.
pub const PONG: &[u8] = b"\r\n";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("message larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("malformed Content-Length in a stream message")]
    BadContentLength,
}

#[derive(Debug)]
pub struct StreamFramer {
    buf: Vec<u8>,
    max_message_size: usize,
}

impl StreamFramer {
    pub fn new(max_message_size: usize) -> Self {
        StreamFramer {
            buf: Vec::new(),
            max_message_size,
        }
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        let leading = self.buf.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
        if leading > 0 {
            let ping = self.buf.starts_with(b"\r\n\r\n");
            // Wait for the rest of a possible ping before discarding a lone CRLF.
            if !ping && leading == self.buf.len() && self.buf.len() < 4 {
                return Ok(None);
            }
            let consumed = if ping { 4 } else { leading };
            self.buf.drain(..consumed);
            if ping {
                return Ok(Some(Frame::KeepAlive));
            }
        }
        let Some(header_end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            if self.buf.len() > self.max_message_size {
                return Err(FramingError::TooLarge { max: self.max_message_size });
            }
            return Ok(None);
        };
        let body_len = content_length(self.buf.get(..header_end).unwrap_or_default())?;
        let total = header_end
            .checked_add(4)
            .and_then(|n| n.checked_add(body_len))
            .ok_or(FramingError::TooLarge { max: self.max_message_size })?;
        if total > self.max_message_size {
            return Err(FramingError::TooLarge { max: self.max_message_size });
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let message: Vec<u8> = self.buf.drain(..total).collect();
        Ok(Some(Frame::Message(message)))
    }
}

/// Content-Length (or its compact form `l`) of a header section; 0 when absent.
fn content_length(head: &[u8]) -> Result<usize, FramingError> {
    let text = String::from_utf8_lossy(head);
    for line in text.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            return value
                .trim()
                .parse()
                .map_err(|_| FramingError::BadContentLength);
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:x SIP/2.0\r\nl: 3\r\n\r\nabc";

    #[test]
    fn frames_split_and_coalesced_messages() {
        let mut framer = StreamFramer::new(1000);
        framer.push(&MSG[..10]);
        assert_eq!(framer.next_frame(), Ok(None));
        framer.push(&MSG[10..]);
        framer.push(MSG);
        assert_eq!(framer.next_frame(), Ok(Some(Frame::Message(MSG.to_vec()))));
        assert_eq!(framer.next_frame(), Ok(Some(Frame::Message(MSG.to_vec()))));
        assert_eq!(framer.next_frame(), Ok(None));
        assert_eq!(framer.buffered(), 0);
    }

    #[test]
    fn keep_alive_ping_between_messages() {
        let mut framer = StreamFramer::new(1000);
        framer.push(b"\r\n");
        assert_eq!(framer.next_frame(), Ok(None));
        framer.push(b"\r\n");
        framer.push(MSG);
        assert_eq!(framer.next_frame(), Ok(Some(Frame::KeepAlive)));
        assert_eq!(framer.next_frame(), Ok(Some(Frame::Message(MSG.to_vec()))));
    }

    #[test]
    fn oversize_is_rejected_before_buffering_forever() {
        let mut framer = StreamFramer::new(20);
        framer.push(&[b'a'; 21]);
        assert_eq!(framer.next_frame(), Err(FramingError::TooLarge { max: 20 }));
        let mut framer = StreamFramer::new(40);
        framer.push(b"INVITE sip:x SIP/2.0\r\nl: 99999\r\n\r\n");
        assert_eq!(framer.next_frame(), Err(FramingError::TooLarge { max: 40 }));
    }

    #[test]
    fn bad_content_length_is_an_error() {
        let mut framer = StreamFramer::new(1000);
        framer.push(b"INVITE sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n");
        assert_eq!(framer.next_frame(), Err(FramingError::BadContentLength));
    }
}
