/// One finished call, as stored in the `calls` table.
///
/// No caller number is stored here: it is personal data, and its
/// pseudonymised form comes with the privacy work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// Our own id for the call (a random hex string made by the server);
    /// unique, the table's primary key.
    pub call_id: String,
    /// Request-URI user part, e.g. "012".
    pub dialled: String,
    /// Epoch milliseconds when the INVITE was received.
    pub started_at_ms: i64,
    /// Epoch milliseconds when we answered (200 OK), if we did.
    pub answered_at_ms: Option<i64>,
    /// Epoch milliseconds when the call ended.
    pub ended_at_ms: i64,
    /// "caller_hangup", "ivr_hangup", "media_timeout", "cancelled",
    /// "shutdown", "signalling" or "rejected".
    pub end_reason: String,
    /// The final SIP status when the call was rejected (488, 503).
    pub sip_status: Option<i64>,
    /// Negotiated codec: "PCMU" or "PCMA".
    pub codec: Option<String>,
    /// Prompt language, e.g. "ca".
    pub language: String,
    pub digits_rfc4733: i64,
    pub digits_sip_info: i64,
    pub digits_inband: i64,
    pub rtp_packets_sent: i64,
    pub rtp_packets_received: i64,
    pub rtp_packets_lost: i64,
}
