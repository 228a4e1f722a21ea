//! libpcap files: a reader that extracts IPv4 UDP datagrams (Ethernet,
//! BSD loopback `DLT_NULL`, Linux cooked v1/v2 as `tcpdump -i lo` and
//! `-i any` write them, raw IP) and a writer of Ethernet captures that SIPp's
//! `play_pcap_audio` accepts.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

const LINKTYPE_NULL: u32 = 0;
const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_RAW: u32 = 101;
const LINKTYPE_RAW_OLD: u32 = 12;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_LINUX_SLL2: u32 = 276;

/// One UDP datagram seen in a capture; `time` is the capture timestamp since
/// the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpDatagram {
    pub time: Duration,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub payload: Vec<u8>,
}

#[derive(Debug)]
pub enum PcapError {
    Io(io::Error),
    NotPcap(u32),
    UnsupportedLinkType(u32),
}

impl std::fmt::Display for PcapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "pcap read: {e}"),
            Self::NotPcap(m) => write!(f, "not a libpcap file (magic {m:#010x}; pcapng is not supported)"),
            Self::UnsupportedLinkType(l) => write!(f, "unsupported pcap link type {l}"),
        }
    }
}

impl std::error::Error for PcapError {}

impl From<io::Error> for PcapError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Reads every IPv4 UDP datagram of a libpcap capture. Non-UDP frames,
/// fragments and frames cut short by the snap length are skipped (a
/// truncated datagram keeps the bytes that were captured).
pub fn read_udp(mut input: impl Read) -> Result<Vec<UdpDatagram>, PcapError> {
    let mut data = Vec::new();
    input.read_to_end(&mut data)?;
    parse_udp(&data)
}

pub fn read_udp_file(path: &std::path::Path) -> Result<Vec<UdpDatagram>, PcapError> {
    read_udp(std::fs::File::open(path)?)
}

pub fn parse_udp(data: &[u8]) -> Result<Vec<UdpDatagram>, PcapError> {
    let magic_bytes: [u8; 4] = data.get(0..4).and_then(|b| b.try_into().ok()).ok_or(PcapError::NotPcap(0))?;
    let (little, nanos) = match u32::from_le_bytes(magic_bytes) {
        0xa1b2_c3d4 => (true, false),
        0xa1b2_3c4d => (true, true),
        0xd4c3_b2a1 => (false, false),
        0x4d3c_b2a1 => (false, true),
        other => return Err(PcapError::NotPcap(other)),
    };
    let u32_at = |off: usize| -> Option<u32> {
        let b: [u8; 4] = data.get(off..off + 4)?.try_into().ok()?;
        Some(if little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    };
    let link = u32_at(20).ok_or(PcapError::NotPcap(0))? & 0x0fff_ffff;
    if ![LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_RAW_OLD, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2]
        .contains(&link)
    {
        return Err(PcapError::UnsupportedLinkType(link));
    }
    let mut out = Vec::new();
    let mut off = 24;
    // A file cut short mid-record (tcpdump killed) ends the read quietly.
    while let (Some(sec), Some(frac), Some(incl)) = (u32_at(off), u32_at(off + 4), u32_at(off + 8)) {
        let start = off + 16;
        let Some(frame) = data.get(start..start + incl as usize) else { break };
        off = start + incl as usize;
        let time = Duration::from_secs(u64::from(sec))
            + if nanos { Duration::from_nanos(u64::from(frac)) } else { Duration::from_micros(u64::from(frac)) };
        if let Some(ip) = ip_payload(link, frame, little)
            && let Some((src, dst, payload)) = udp_in_ipv4(ip)
        {
            out.push(UdpDatagram { time, src, dst, payload: payload.to_vec() });
        }
    }
    Ok(out)
}

/// The IPv4 packet inside a link-layer frame, if the frame carries one.
fn ip_payload(link: u32, frame: &[u8], file_little_endian: bool) -> Option<&[u8]> {
    let be16 = |off: usize| -> Option<u16> { Some(u16::from_be_bytes(frame.get(off..off + 2)?.try_into().ok()?)) };
    match link {
        LINKTYPE_ETHERNET => {
            let mut off = 12;
            let mut ethertype = be16(off)?;
            // 802.1Q VLAN tags.
            while ethertype == 0x8100 || ethertype == 0x88a8 {
                off += 4;
                ethertype = be16(off)?;
            }
            (ethertype == 0x0800).then(|| frame.get(off + 2..)).flatten()
        }
        LINKTYPE_NULL => {
            let b: [u8; 4] = frame.get(0..4)?.try_into().ok()?;
            // The family is in the capturing host's byte order; try both.
            let family = if file_little_endian { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) };
            (family == 2 || u32::from_be_bytes(b) == 2).then(|| frame.get(4..)).flatten()
        }
        LINKTYPE_LINUX_SLL => (be16(14)? == 0x0800).then(|| frame.get(16..)).flatten(),
        LINKTYPE_LINUX_SLL2 => (be16(0)? == 0x0800).then(|| frame.get(20..)).flatten(),
        _ => (frame.first()? >> 4 == 4).then_some(frame),
    }
}

fn udp_in_ipv4(ip: &[u8]) -> Option<(SocketAddrV4, SocketAddrV4, &[u8])> {
    if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 17 {
        return None;
    }
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    let flags_fragment = u16::from_be_bytes([ip[6], ip[7]]);
    if flags_fragment & 0x1fff != 0 {
        return None; // a later fragment: no UDP header here
    }
    let total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let udp = ip.get(header_len..total_len.min(ip.len()).max(header_len))?;
    if udp.len() < 8 {
        return None;
    }
    let src_port = u16::from_be_bytes([udp[0], udp[1]]);
    let dst_port = u16::from_be_bytes([udp[2], udp[3]]);
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]])).max(8);
    let payload = &udp[8..udp_len.min(udp.len())];
    Some((SocketAddrV4::new(src_ip, src_port), SocketAddrV4::new(dst_ip, dst_port), payload))
}

/// Writes an Ethernet libpcap file (microsecond timestamps) of IPv4 UDP
/// datagrams.
pub fn write_udp(mut out: impl Write, datagrams: &[UdpDatagram]) -> io::Result<()> {
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&0i32.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&65535u32.to_le_bytes());
    header.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    out.write_all(&header)?;
    for d in datagrams {
        let frame = ethernet_frame(d);
        let mut record = Vec::with_capacity(16 + frame.len());
        record.extend_from_slice(&(d.time.as_secs() as u32).to_le_bytes());
        record.extend_from_slice(&d.time.subsec_micros().to_le_bytes());
        record.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        record.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        record.extend_from_slice(&frame);
        out.write_all(&record)?;
    }
    Ok(())
}

fn ethernet_frame(d: &UdpDatagram) -> Vec<u8> {
    let udp_len = 8 + d.payload.len();
    let ip_len = 20 + udp_len;
    let mut f = Vec::with_capacity(14 + ip_len);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]);
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&d.src.ip().octets());
    ip[16..20].copy_from_slice(&d.dst.ip().octets());
    let checksum = ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&d.src.port().to_be_bytes());
    f.extend_from_slice(&d.dst.port().to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]); // RFC 768: zero checksum means "not computed"
    f.extend_from_slice(&d.payload);
    f
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<UdpDatagram> {
        (0..3)
            .map(|i| UdpDatagram {
                time: Duration::from_micros(1_700_000_000_000_000 + i * 20_000),
                src: "10.0.0.1:6000".parse().expect("literal"),
                dst: "10.0.0.2:7000".parse().expect("literal"),
                payload: vec![i as u8; 172],
            })
            .collect()
    }

    #[test]
    fn written_datagrams_read_back_identical() {
        let mut file = Vec::new();
        write_udp(&mut file, &sample()).expect("write to a Vec");
        assert_eq!(parse_udp(&file).expect("own output parses"), sample());
    }

    #[test]
    fn the_ip_header_checksum_verifies() {
        let frame = ethernet_frame(&sample()[0]);
        assert_eq!(ipv4_checksum(&frame[14..34]), 0);
    }

    #[test]
    fn linux_cooked_captures_from_tcpdump_on_lo_are_read() {
        let d = &sample()[0];
        let eth = ethernet_frame(d);
        let mut sll = vec![0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
        sll[2..4].copy_from_slice(&772u16.to_be_bytes());
        sll.extend_from_slice(&eth[14..]);
        let mut file = Vec::new();
        write_udp(&mut file, &[]).expect("write to a Vec");
        file[20..24].copy_from_slice(&LINKTYPE_LINUX_SLL.to_le_bytes());
        file.extend_from_slice(&(d.time.as_secs() as u32).to_le_bytes());
        file.extend_from_slice(&d.time.subsec_micros().to_le_bytes());
        file.extend_from_slice(&(sll.len() as u32).to_le_bytes());
        file.extend_from_slice(&(sll.len() as u32).to_le_bytes());
        file.extend_from_slice(&sll);
        assert_eq!(parse_udp(&file).expect("cooked capture parses"), vec![d.clone()]);
    }

    #[test]
    fn garbage_and_truncated_files_do_not_panic() {
        assert!(parse_udp(b"nope").is_err());
        let mut file = Vec::new();
        write_udp(&mut file, &sample()).expect("write to a Vec");
        for cut in 0..file.len() {
            let _ = parse_udp(&file[..cut]);
        }
    }
}
