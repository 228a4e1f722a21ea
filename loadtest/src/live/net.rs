//! The live generator's shell: the sockets, the clock and the audio-check
//! worker around the sans-IO [`Engine`].
//!
//! One thread runs one mio loop over one UDP socket for SIP, a small pool
//! of UDP sockets for RTP (each carries many calls; the server's per-call
//! port tells them apart) and a timerfd armed at the engine's next deadline
//! with nanosecond precision (epoll's own timeout is whole milliseconds,
//! which alone would add up to a millisecond of send-time deviation). RTP
//! leaves in batches with `sendmmsg` and arrives with `recvmmsg`, through
//! nix's safe wrappers (unsafe code is denied in this workspace). A second
//! thread correlates heard audio against prompts, off the packet path.
//!
//! Run-loop contract (the engine's): after every input, drain its outputs
//! before waiting again.
//!
//! Never: a blocking call on the packet path, or an unbounded wait (the
//! control callback is consulted at least every 100 ms).

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::socket::{ControlMessage, MsgFlags, MultiHeaders, SockaddrIn, recvmmsg, sendmmsg};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

use super::engine::{CheckRequest, Engine};
use super::stats::Histogram;

const SIP: Token = Token(0);
const TIMER: Token = Token(1);
const RTP_BASE: usize = 16;
/// Datagrams per sendmmsg/recvmmsg call.
const BATCH: usize = 64;
const MAX_DATAGRAM: usize = 2048;
/// Socket buffers: a second of RTP for a few thousand calls.
const SOCKET_BUFFER: usize = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("binding {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("the generator's sockets are IPv4 only (sendmmsg addresses): {0}")]
    NotIpv4(SocketAddr),
    #[error("event loop: {0}")]
    Poll(std::io::Error),
    #[error("timerfd: {0}")]
    Timer(nix::Error),
}

/// The sockets of one generator process.
pub struct Sockets {
    sip: UdpSocket,
    rtp: Vec<UdpSocket>,
}

fn bind(addr: SocketAddr) -> Result<UdpSocket, NetError> {
    let err = |source| NetError::Bind { addr, source };
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).map_err(err)?;
    // Larger buffers are best effort: the kernel caps them at rmem_max.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    Ok(UdpSocket::from_std(socket.into()))
}

impl Sockets {
    /// One SIP socket and `rtp` RTP sockets on `ip`, on free ports.
    pub fn bind(ip: std::net::Ipv4Addr, rtp: usize) -> Result<Sockets, NetError> {
        let any = SocketAddr::from((ip, 0));
        let sip = bind(any)?;
        let rtp = (0..rtp.max(1)).map(|_| bind(any)).collect::<Result<Vec<_>, _>>()?;
        Ok(Sockets { sip, rtp })
    }

    pub fn sip_addr(&self) -> Result<SocketAddr, NetError> {
        self.sip.local_addr().map_err(NetError::Poll)
    }

    pub fn rtp_addrs(&self) -> Result<Vec<SocketAddr>, NetError> {
        self.rtp.iter().map(|s| s.local_addr().map_err(NetError::Poll)).collect()
    }
}

/// What the shell measures itself, beside the engine's figures.
#[derive(Debug, Default, Clone)]
pub struct ShellFigures {
    /// Send time minus the slot's due time, per RTP packet (whole run).
    pub send_deviation: Histogram,
    /// The same, since the control callback last took it.
    pub send_deviation_recent: Histogram,
    /// The same, since the last capacity step closed.
    pub send_deviation_step: Histogram,
    pub send_errors: u64,
    pub sendmmsg_calls: u64,
    pub recvmmsg_calls: u64,
    pub datagrams_received: u64,
}

impl ShellFigures {
    /// The send deviations since the last capacity step (and restarts it).
    pub fn send_deviation_recent_step(&mut self) -> Histogram {
        let step = std::mem::take(&mut self.send_deviation_step);
        step
    }
}

/// What the control callback tells the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Runs the engine until `control` says stop. `control` is called at
/// least every 100 ms (and at once at start) with the engine, the time and
/// the shell's figures; it starts and stops load and reports progress.
pub fn drive(
    engine: &mut Engine,
    sockets: &mut Sockets,
    mut control: impl FnMut(&mut Engine, Instant, &mut ShellFigures) -> Flow,
) -> Result<ShellFigures, NetError> {
    let mut poll = Poll::new().map_err(NetError::Poll)?;
    let timer = TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC).map_err(NetError::Timer)?;
    let timer_fd = timer.as_fd().as_raw_fd();
    poll.registry().register(&mut SourceFd(&timer_fd), TIMER, Interest::READABLE).map_err(NetError::Poll)?;
    poll.registry().register(&mut sockets.sip, SIP, Interest::READABLE).map_err(NetError::Poll)?;
    for (i, s) in sockets.rtp.iter_mut().enumerate() {
        poll.registry().register(s, Token(RTP_BASE + i), Interest::READABLE).map_err(NetError::Poll)?;
    }
    let (check_tx, check_rx) = mpsc::channel::<CheckRequest>();
    let (verdict_tx, verdict_rx) = mpsc::channel::<(u32, &'static str, f64)>();
    let worker = std::thread::Builder::new()
        .name("loadtest-audio".into())
        .spawn(move || {
            for req in check_rx {
                let score = super::prompts::score(&req.heard, &req.prompt);
                if verdict_tx.send((req.call, req.prompt.id, score)).is_err() {
                    break;
                }
            }
        })
        .map_err(NetError::Poll)?;

    let mut figures = ShellFigures::default();
    let mut events = Events::with_capacity(256);
    let mut buffers = vec![[0u8; MAX_DATAGRAM]; BATCH];
    let mut next_control = Instant::now();
    let result = loop {
        let now = Instant::now();
        engine.handle_timeout(now);
        flush(engine, sockets, &mut figures);
        for req in engine.take_checks() {
            // The worker lives as long as this loop; a send error means it
            // panicked, and the check is lost (counted as pending).
            let _ = check_tx.send(req);
        }
        while let Ok((call, prompt, score)) = verdict_rx.try_recv() {
            engine.handle_check(call, prompt, score);
        }
        if now >= next_control {
            next_control = now + Duration::from_millis(100);
            if control(engine, now, &mut figures) == Flow::Stop {
                flush(engine, sockets, &mut figures);
                break Ok(());
            }
            flush(engine, sockets, &mut figures);
        }
        let deadline = engine.poll_timeout().map_or(next_control, |t| t.min(next_control));
        let wait = deadline.saturating_duration_since(Instant::now());
        let timeout = if wait.is_zero() {
            Some(Duration::ZERO)
        } else {
            let spec = TimeSpec::from_duration(wait);
            if let Err(e) = timer.set(Expiration::OneShot(spec), TimerSetTimeFlags::empty()) {
                break Err(NetError::Timer(e));
            }
            // Belt and braces: epoll's own timeout a millisecond later.
            Some(wait + Duration::from_millis(1))
        };
        if let Err(e) = poll.poll(&mut events, timeout)
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            break Err(NetError::Poll(e));
        }
        for event in &events {
            match event.token() {
                TIMER => {
                    let _ = timer.wait();
                }
                SIP => receive_sip(engine, &sockets.sip, &mut buffers[0]),
                Token(t) if t >= RTP_BASE => {
                    let index = t - RTP_BASE;
                    if let Some(socket) = sockets.rtp.get(index) {
                        receive_rtp(engine, index, socket, &mut buffers, &mut figures);
                    }
                }
                _ => {}
            }
        }
    };
    drop(check_tx);
    // Pending checks finish: the report needs every verdict.
    let _ = worker.join();
    while let Ok((call, prompt, score)) = verdict_rx.try_recv() {
        engine.handle_check(call, prompt, score);
    }
    result.map(|()| figures)
}

fn receive_sip(engine: &mut Engine, socket: &UdpSocket, buffer: &mut [u8; MAX_DATAGRAM]) {
    loop {
        match socket.recv_from(buffer) {
            Ok((n, from)) => {
                let now = Instant::now();
                engine.handle_sip(now, from, &buffer[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // WouldBlock: drained (edge-triggered); other errors (ICMP
            // port unreachable) are the peer's business.
            Err(_) => return,
        }
    }
}

fn receive_rtp(engine: &mut Engine, index: usize, socket: &UdpSocket, buffers: &mut [[u8; MAX_DATAGRAM]], figures: &mut ShellFigures) {
    loop {
        let mut received: Vec<(usize, Option<SocketAddrV4>)> = Vec::with_capacity(BATCH);
        {
            let mut headers = MultiHeaders::<SockaddrIn>::preallocate(buffers.len(), None);
            let mut slices: Vec<[IoSliceMut<'_>; 1]> = buffers.iter_mut().map(|b| [IoSliceMut::new(&mut b[..])]).collect();
            match recvmmsg(socket.as_raw_fd(), &mut headers, slices.iter_mut(), MsgFlags::MSG_DONTWAIT, None) {
                Ok(results) => {
                    for msg in results {
                        received.push((msg.bytes, msg.address.map(SocketAddrV4::from)));
                    }
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
            }
        }
        figures.recvmmsg_calls += 1;
        if received.is_empty() {
            return;
        }
        let now = Instant::now();
        let full = received.len() == buffers.len();
        for (i, (n, from)) in received.into_iter().enumerate() {
            figures.datagrams_received += 1;
            if let (Some(from), Some(buffer)) = (from, buffers.get(i)) {
                engine.handle_rtp(now, index, SocketAddr::V4(from), &buffer[..n.min(MAX_DATAGRAM)]);
            }
        }
        if !full {
            return;
        }
    }
}

/// Sends what the engine has queued: SIP one by one, RTP per socket in
/// `sendmmsg` batches; each RTP packet's deviation from its slot is
/// measured when its batch has left.
fn flush(engine: &mut Engine, sockets: &Sockets, figures: &mut ShellFigures) {
    for (to, bytes) in engine.sip_out() {
        if sockets.sip.send_to(&bytes, to).is_err() {
            figures.send_errors += 1;
        }
    }
    for (index, batch) in engine.rtp_batches().iter_mut().enumerate() {
        let Some(socket) = sockets.rtp.get(index) else { continue };
        for chunk in batch.packets.chunks(BATCH) {
            let slices: Vec<[IoSlice<'_>; 1]> = chunk.iter().map(|p| [IoSlice::new(&batch.arena[p.start..p.start + p.len])]).collect();
            let addrs: Vec<Option<SockaddrIn>> = chunk
                .iter()
                .map(|p| match p.to {
                    SocketAddr::V4(v4) => Some(SockaddrIn::from(v4)),
                    SocketAddr::V6(_) => None,
                })
                .collect();
            let mut headers = MultiHeaders::<SockaddrIn>::preallocate(chunk.len(), None);
            let none: [ControlMessage<'_>; 0] = [];
            // On loopback UDP a datagram is taken whole or the call fails:
            // a partial batch (which nix reports only through headers we
            // must not read uninitialised) does not occur; a failed batch
            // is counted and its packets show as loss at the server.
            if sendmmsg(socket.as_raw_fd(), &mut headers, &slices, &addrs, none, MsgFlags::MSG_DONTWAIT).is_err() {
                figures.send_errors += chunk.len() as u64;
            }
            figures.sendmmsg_calls += 1;
            let sent_at = Instant::now();
            for p in chunk {
                let micros = sent_at.saturating_duration_since(p.due).as_micros() as u64;
                figures.send_deviation.record(micros);
                figures.send_deviation_recent.record(micros);
                figures.send_deviation_step.record(micros);
            }
        }
        batch.packets.clear();
        batch.arena.clear();
    }
}

/// CPU time (user + system) of a process so far, from /proc (Linux);
/// `None` when it cannot be read.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: 14 and 15.
    let rest = text.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Resident memory of a process, in MiB (Linux).
pub fn rss_mb(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Open file descriptors of a process (Linux).
pub fn fd_count(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_memory_and_descriptors() {
        let me = std::process::id();
        assert!(cpu_time(me).is_some());
        assert!(rss_mb(me).is_some_and(|m| m > 0.0));
        assert!(fd_count(me).is_some_and(|n| n >= 3));
        assert_eq!(cpu_time(u32::MAX), None);
    }
}
