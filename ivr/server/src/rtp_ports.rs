//! RTP port pairs from the configured range: an even port for RTP and the
//! next one for RTCP (RFC 3550 §11), bound non-blocking on the media address.
//!
//! Owns which pairs are lent to calls. Ports are handed out round-robin so a
//! port just released is not reused at once (late packets of the old call
//! would land in the new one); a pair that another process holds is skipped.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};

use crate::config::RtpPortRange;

#[derive(Debug)]
pub struct RtpPortPool {
    first: u16,
    pairs: u16,
    next: u16,
    in_use: HashSet<u16>,
}

/// The two sockets of one call.
#[derive(Debug)]
pub struct RtpSockets {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub rtp_port: u16,
}

impl RtpPortPool {
    pub fn new(range: RtpPortRange) -> RtpPortPool {
        let first = range.first + (range.first % 2);
        let pairs = (range.last.saturating_sub(first) + 1) / 2;
        RtpPortPool { first, pairs, next: 0, in_use: HashSet::new() }
    }

    pub fn capacity(&self) -> usize {
        usize::from(self.pairs)
    }

    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }

    /// Binds the next free pair on `ip`; `None` when every pair is taken.
    pub fn allocate(&mut self, ip: IpAddr) -> Option<RtpSockets> {
        for _ in 0..self.pairs {
            let index = self.next;
            self.next = (self.next + 1) % self.pairs.max(1);
            let port = self.first + 2 * index;
            if self.in_use.contains(&port) {
                continue;
            }
            let Ok(rtp) = UdpSocket::bind(SocketAddr::new(ip, port)) else { continue };
            let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(ip, port + 1)) else { continue };
            if rtp.set_nonblocking(true).is_err() || rtcp.set_nonblocking(true).is_err() {
                continue;
            }
            self.in_use.insert(port);
            return Some(RtpSockets { rtp, rtcp, rtp_port: port });
        }
        None
    }

    pub fn release(&mut self, rtp_port: u16) {
        self.in_use.remove(&rtp_port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn pairs_are_even_and_not_reused_until_released() {
        let mut pool = RtpPortPool::new(RtpPortRange { first: 41001, last: 41008 });
        assert_eq!(pool.capacity(), 3);
        let a = pool.allocate(LOOPBACK).unwrap();
        let b = pool.allocate(LOOPBACK).unwrap();
        let c = pool.allocate(LOOPBACK).unwrap();
        let ports = [a.rtp_port, b.rtp_port, c.rtp_port];
        assert_eq!(ports, [41002, 41004, 41006]);
        assert_eq!(c.rtcp.local_addr().unwrap().port(), 41007);
        assert!(pool.allocate(LOOPBACK).is_none(), "the pool is exhausted");
        pool.release(b.rtp_port);
        drop(b);
        assert_eq!(pool.allocate(LOOPBACK).unwrap().rtp_port, 41004);
    }

    #[test]
    fn a_port_held_by_someone_else_is_skipped() {
        let squatter = UdpSocket::bind((LOOPBACK, 41102)).unwrap();
        let mut pool = RtpPortPool::new(RtpPortRange { first: 41100, last: 41105 });
        assert_eq!(pool.allocate(LOOPBACK).unwrap().rtp_port, 41100);
        assert_eq!(pool.allocate(LOOPBACK).unwrap().rtp_port, 41104);
        drop(squatter);
    }
}
