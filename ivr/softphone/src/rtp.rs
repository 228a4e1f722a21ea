//! Plain RTP on the bridge's side of the leg: the 16-bit sequence numbers
//! the bridge writes, extended to the 64-bit index SRTP needs, and the
//! browser's decrypted packets written back as plain datagrams.
//!
//! Owns no state beyond the last extended sequence number. Must never
//! panic on a sequence number, whatever its jump.

use ivr_media::rtp::{RTP_HEADER_LEN, write_rtp_header};

/// Extends 16-bit RTP sequence numbers into the packet index of RFC 3711
/// 3.3.1 (rollover counter * 65536 + SEQ), taking the nearest index to the
/// previous one, as the RFC's receiver estimate does.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SeqExtender {
    last: Option<u64>,
}

impl SeqExtender {
    pub fn extend(&mut self, seq: u16) -> u64 {
        let index = match self.last {
            None => u64::from(seq),
            Some(last) => {
                // Reinterpreting the 16-bit difference as signed gives the
                // nearest index: a step back (reordering) stays in this
                // rollover period instead of jumping a whole one ahead.
                let delta = i64::from(seq.wrapping_sub(last as u16) as i16);
                last.checked_add_signed(delta).unwrap_or(u64::from(seq))
            }
        };
        self.last = Some(self.last.map_or(index, |last| last.max(index)));
        index
    }
}

/// Writes `payload` behind a 12-byte RTP header into a new datagram.
pub(crate) fn plain_rtp(marker: bool, pt: u8, seq: u16, timestamp: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut datagram = vec![0; RTP_HEADER_LEN + payload.len()];
    let header = write_rtp_header(&mut datagram, marker, pt, seq, timestamp, ssrc);
    if let Some(body) = datagram.get_mut(header..) {
        body.copy_from_slice(payload);
    }
    datagram
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivr_media::rtp::RtpPacket;

    #[test]
    fn sequence_numbers_are_extended_across_the_wrap_and_reordering_stays_in_its_period() {
        let mut ext = SeqExtender::default();
        assert_eq!(ext.extend(65534), 65534);
        assert_eq!(ext.extend(65535), 65535);
        assert_eq!(ext.extend(0), 65536);
        assert_eq!(ext.extend(65535), 65535, "late packet from before the wrap");
        assert_eq!(ext.extend(1), 65537);
        assert_eq!(ext.extend(40000), 40000, "more than half a period back is taken as before the wrap");
    }

    #[test]
    fn a_step_back_before_the_first_wrap_never_underflows() {
        let mut ext = SeqExtender::default();
        assert_eq!(ext.extend(3), 3);
        assert_eq!(ext.extend(65530), 65530, "nearest index below zero is clamped to the raw number");
    }

    #[test]
    fn plain_rtp_round_trips_through_the_media_parser() {
        let bytes = plain_rtp(true, 8, 513, 0x0102_0304, 0xDEAD_BEEF, &[0xD5; 160]);
        let packet = RtpPacket::parse(&bytes).expect("valid");
        assert!(packet.marker);
        assert_eq!(
            (packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc),
            (8, 513, 0x0102_0304, 0xDEAD_BEEF)
        );
        assert_eq!(packet.payload, &[0xD5; 160][..]);
    }
}
