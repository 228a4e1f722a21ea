//! A seeded simulated network (loss, duplication, jitter that reorders, filters) between two
//! user agents, and a clock that jumps to the next deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ivr_sip::{CallEvent, LegId, Output, Transport, UaConfig, UserAgent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Uac,
    Uas,
}

impl Node {
    pub fn name(self) -> &'static str {
        match self {
            Node::Uac => "UAC",
            Node::Uas => "UAS",
        }
    }

    pub fn addr(self) -> SocketAddr {
        match self {
            Node::Uac => SocketAddr::from(([192, 0, 2, 10], 5060)),
            Node::Uas => SocketAddr::from(([192, 0, 2, 20], 5060)),
        }
    }

    fn other(self) -> Node {
        match self {
            Node::Uac => Node::Uas,
            Node::Uas => Node::Uac,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Packet {
    pub from: Node,
    pub to: Node,
    pub transport: Transport,
    pub bytes: Vec<u8>,
}

impl Packet {
    /// "INVITE" for requests, "200 OK" for responses.
    pub fn summary(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        let line = text.lines().next().unwrap_or_default();
        if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
            let cseq = text
                .lines()
                .find_map(|l| l.strip_prefix("CSeq: "))
                .and_then(|c| c.split_whitespace().nth(1))
                .unwrap_or("?");
            format!("{rest} ({cseq})")
        } else {
            line.split(' ').next().unwrap_or_default().to_string()
        }
    }

    pub fn is(&self, summary_prefix: &str) -> bool {
        self.summary().starts_with(summary_prefix)
    }
}

pub type Filter = Box<dyn FnMut(&Packet, Duration) -> bool>;
pub type App = Box<dyn FnMut(&mut UserAgent, Instant, &CallEvent)>;

pub struct NetConfig {
    pub loss: f64,
    pub duplicate: f64,
    pub latency: Duration,
    pub jitter: Duration,
}

impl NetConfig {
    pub fn perfect() -> Self {
        NetConfig {
            loss: 0.0,
            duplicate: 0.0,
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
        }
    }

    pub fn lossy(loss: f64) -> Self {
        NetConfig {
            loss,
            duplicate: 0.05,
            latency: Duration::from_millis(10),
            jitter: Duration::from_millis(40),
        }
    }
}

pub struct World {
    pub t0: Instant,
    pub now: Instant,
    pub uac: UserAgent,
    pub uas: UserAgent,
    pub transport: Transport,
    net: NetConfig,
    rng: fastrand::Rng,
    in_flight: Vec<(Instant, u64, Packet)>,
    seq: u64,
    /// Drops a packet when it returns true (called with the packet and the simulated time).
    pub drop_if: Option<Filter>,
    pub uac_app: Option<App>,
    pub uas_app: Option<App>,
    pub events: Vec<(Duration, Node, CallEvent)>,
    pub sent: Vec<(Duration, Packet, bool)>,
    pub ladder: Vec<String>,
}

pub const OFFER: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
pub const ANSWER: &[u8] = b"v=0\r\no=- 2 2 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

impl World {
    pub fn new(seed: u64, net: NetConfig, transport: Transport) -> World {
        let t0 = Instant::now();
        World {
            t0,
            now: t0,
            uac: UserAgent::new(UaConfig::new(Node::Uac.addr()), fastrand::Rng::with_seed(seed)),
            uas: UserAgent::new(
                UaConfig::new(Node::Uas.addr()),
                fastrand::Rng::with_seed(seed ^ 0x5eed),
            ),
            transport,
            net,
            rng: fastrand::Rng::with_seed(seed.wrapping_mul(31).wrapping_add(7)),
            in_flight: Vec::new(),
            seq: 0,
            drop_if: None,
            uac_app: None,
            uas_app: None,
            events: Vec::new(),
            sent: Vec::new(),
            ladder: Vec::new(),
        }
    }

    /// An IVR that rings and answers every call with [`ANSWER`].
    pub fn answering_ivr(mut self) -> World {
        self.uas_app = Some(Box::new(|ua, now, ev| {
            if let CallEvent::Incoming { leg, sdp, .. } = ev {
                ua.ringing(now, *leg);
                let body = if sdp.is_some() { ANSWER } else { OFFER };
                ua.answer(now, *leg, body.to_vec());
            }
        }));
        self
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    pub fn call(&mut self, sdp: Option<&[u8]>) -> LegId {
        let req = ivr_sip::OutgoingInvite {
            to_addr: Node::Uas.addr(),
            transport: self.transport,
            request_uri: "sip:012@192.0.2.20".into(),
            from_uri: "sip:+34600000000@192.0.2.10".into(),
            to_uri: "sip:012@192.0.2.20".into(),
            sdp: sdp.map(<[u8]>::to_vec),
        };
        let leg = self.uac.invite(self.now, req).expect("valid outgoing INVITE");
        self.pump();
        leg
    }

    fn ua(&mut self, node: Node) -> &mut UserAgent {
        match node {
            Node::Uac => &mut self.uac,
            Node::Uas => &mut self.uas,
        }
    }

    /// Drains both user agents' outputs onto the network and to the apps, until quiet.
    pub fn pump(&mut self) {
        loop {
            let mut progressed = false;
            for node in [Node::Uac, Node::Uas] {
                while let Some(out) = self.ua(node).poll_output() {
                    progressed = true;
                    match out {
                        Output::Transmit(t) => {
                            assert_eq!(t.to, node.other().addr(), "{} sends to its peer", node.name());
                            let packet = Packet {
                                from: node,
                                to: node.other(),
                                transport: t.transport,
                                bytes: t.bytes,
                            };
                            self.send(packet);
                        }
                        Output::Event(ev) => self.deliver_event(node, ev),
                    }
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn deliver_event(&mut self, node: Node, ev: CallEvent) {
        let t = self.elapsed();
        self.ladder.push(format!(
            "t={:.3} {} event {}",
            t.as_secs_f64(),
            node.name(),
            event_name(&ev)
        ));
        self.events.push((t, node, ev.clone()));
        let now = self.now;
        let mut app = match node {
            Node::Uac => self.uac_app.take(),
            Node::Uas => self.uas_app.take(),
        };
        if let Some(app) = app.as_mut() {
            app(self.ua(node), now, &ev);
        }
        match node {
            Node::Uac => self.uac_app = app,
            Node::Uas => self.uas_app = app,
        }
    }

    fn send(&mut self, packet: Packet) {
        let t = self.elapsed();
        let reliable = packet.transport == Transport::Tcp;
        let filtered = self.drop_if.as_mut().is_some_and(|f| f(&packet, t));
        // TCP never loses or duplicates (but the filter models a dead peer).
        let lost = filtered || (!reliable && self.rng.f64() < self.net.loss);
        self.ladder.push(format!(
            "t={:.3} {}->{} {}{}",
            t.as_secs_f64(),
            packet.from.name(),
            packet.to.name(),
            packet.summary(),
            if lost { " (lost)" } else { "" }
        ));
        self.sent.push((t, packet.clone(), lost));
        if lost {
            return;
        }
        let copies = if !reliable && self.rng.f64() < self.net.duplicate { 2 } else { 1 };
        for _ in 0..copies {
            let jitter = if reliable || self.net.jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_micros(self.rng.u64(0..self.net.jitter.as_micros() as u64))
            };
            self.seq += 1;
            self.in_flight
                .push((self.now + self.net.latency + jitter, self.seq, packet.clone()));
        }
    }

    fn next_event_time(&self) -> Option<Instant> {
        [
            self.uac.poll_timeout(),
            self.uas.poll_timeout(),
            self.in_flight.iter().map(|(at, _, _)| *at).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Advances to the next deadline or delivery; false when nothing is left to happen.
    pub fn step(&mut self, limit: Instant) -> bool {
        self.pump();
        let Some(next) = self.next_event_time() else {
            return false;
        };
        if next > limit {
            self.now = limit;
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;
        // Deliver in (time, send order) so that TCP keeps its order.
        self.in_flight.sort_by_key(|(at, seq, _)| (*at, *seq));
        while self.in_flight.first().is_some_and(|(at, _, _)| *at <= now) {
            let (_, _, packet) = self.in_flight.remove(0);
            let from = packet.from.addr();
            self.ua(packet.to).handle_datagram(now, packet.transport, from, &packet.bytes);
            self.pump();
        }
        for node in [Node::Uac, Node::Uas] {
            if self.ua(node).poll_timeout().is_some_and(|t| t <= now) {
                self.ua(node).handle_timeout(now);
            }
        }
        self.pump();
        true
    }

    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        while self.step(limit) {}
        self.now = self.now.max(limit);
    }

    /// Runs until nothing is scheduled any more (bounded to 10 simulated minutes).
    pub fn run_until_idle(&mut self) {
        let limit = self.now + Duration::from_secs(600);
        while self.step(limit) {}
        assert!(self.now < limit, "the scenario did not settle");
    }

    pub fn events_of(&self, node: Node) -> Vec<CallEvent> {
        self.events
            .iter()
            .filter(|(_, n, _)| *n == node)
            .map(|(_, _, e)| e.clone())
            .collect()
    }

    pub fn event_names(&self, node: Node) -> Vec<String> {
        self.events_of(node).iter().map(event_name).collect()
    }

    /// Packets sent by `from` whose summary starts with `prefix`.
    pub fn count_sent(&self, from: Node, prefix: &str) -> usize {
        self.sent
            .iter()
            .filter(|(_, p, _)| p.from == from && p.is(prefix))
            .count()
    }

    pub fn assert_clean(&self) {
        assert_eq!(self.uac.leg_count(), 0, "UAC legs left");
        assert_eq!(self.uas.leg_count(), 0, "UAS legs left");
        assert_eq!(self.uac.transaction_count(), 0, "UAC transactions left");
        assert_eq!(self.uas.transaction_count(), 0, "UAS transactions left");
    }
}

pub fn event_name(ev: &CallEvent) -> String {
    match ev {
        CallEvent::Incoming { sdp, .. } => {
            format!("Incoming{}", if sdp.is_some() { " (offer)" } else { "" })
        }
        CallEvent::Confirmed { ack_sdp, .. } => {
            format!("Confirmed{}", if ack_sdp.is_some() { " (answer in ACK)" } else { "" })
        }
        CallEvent::Cancelled { .. } => "Cancelled".into(),
        CallEvent::ReInvite { .. } => "ReInvite".into(),
        CallEvent::Info { content_type, .. } => format!("Info {content_type}"),
        CallEvent::InfoResult { status, .. } => format!("InfoResult {status}"),
        CallEvent::Terminated { reason, .. } => format!("Terminated {reason:?}"),
        CallEvent::Progress { status, .. } => format!("Progress {status}"),
        CallEvent::Answered { sdp, .. } => {
            format!("Answered{}", if sdp.is_some() { " (sdp)" } else { "" })
        }
        CallEvent::Failed { status, .. } => format!("Failed {status}"),
        CallEvent::ReInviteResult { status, .. } => format!("ReInviteResult {status}"),
        CallEvent::Refer { refer_to, .. } => format!("Refer {refer_to}"),
        CallEvent::Registration(ev) => format!("Registration {ev:?}"),
    }
}
