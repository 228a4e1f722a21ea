//! What the browser's offer proposes for audio, read before str0m answers it,
//! so the answer can be narrowed to one G.711 law and telephone-event/8000.
//!
//! Owns: a tolerant scan of the first `m=audio` section's payload types and
//! `a=rtpmap` lines. Must never: panic on any text, or decide anything but
//! which of our codecs to answer with (str0m parses and negotiates the SDP).

use ivr_media::Codec;

/// Why an offer cannot be answered by a G.711 softphone leg.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    #[error("the offer has no audio section")]
    NoAudio,
    #[error("the offer proposes none of the configured codecs (PCMU/PCMA)")]
    NoCommonCodec,
}

/// The audio choice for the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AudioChoice {
    pub codec: Codec,
    /// The payload type the SDP gives the codec (0 or 8, or a dynamic one).
    pub payload_type: u8,
    /// The offer's telephone-event/8000 payload type, if it has one.
    pub telephone_event: Option<u8>,
}

/// Whose order decides between several G.711 formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Ours (`preferred` first to last): reading an offer we answer.
    Ours,
    /// The SDP's (its first allowed format): reading an answer, whose first
    /// format is what the answerer sends (RFC 3264 6.1).
    Theirs,
}

/// Picks a codec of `preferred` that the first audio section lists, in
/// `order`. Static payload types 0 and 8 count even without an rtpmap
/// (RFC 3551 6); a dynamic number mapped to PCMU/8000 counts too.
pub(crate) fn choose_audio(sdp: &str, preferred: &[Codec], order: Order) -> Result<AudioChoice, OfferError> {
    let mut in_audio = false;
    let mut seen_audio = false;
    let mut formats: Vec<u8> = Vec::new();
    let mut maps: Vec<(u8, String)> = Vec::new();
    for line in sdp.lines().map(str::trim_end) {
        if let Some(media) = line.strip_prefix("m=") {
            if seen_audio {
                break;
            }
            in_audio = media.starts_with("audio ");
            if in_audio {
                seen_audio = true;
                formats = media.split_ascii_whitespace().skip(3).filter_map(|f| f.parse().ok()).collect();
            }
            continue;
        }
        if !in_audio {
            continue;
        }
        if let Some(map) = line.strip_prefix("a=rtpmap:") {
            let mut parts = map.splitn(2, ' ');
            let pt = parts.next().and_then(|p| p.parse::<u8>().ok());
            let encoding = parts.next().map(|e| e.trim().to_ascii_lowercase());
            if let (Some(pt), Some(encoding)) = (pt, encoding) {
                maps.push((pt, encoding));
            }
        }
    }
    if !seen_audio {
        return Err(OfferError::NoAudio);
    }
    let encoding_of = |pt: u8| maps.iter().find(|(p, _)| *p == pt).map(|(_, e)| e.as_str());
    let carries = |pt: u8, codec: Codec| {
        let wanted = format!("{}/8000", codec.encoding_name().to_ascii_lowercase());
        match encoding_of(pt) {
            Some(encoding) => encoding == wanted || encoding.starts_with(&format!("{wanted}/")),
            None => pt == codec.payload_type(),
        }
    };
    let found = match order {
        Order::Ours => preferred
            .iter()
            .find_map(|&codec| formats.iter().copied().find(|&pt| carries(pt, codec)).map(|pt| (codec, pt))),
        Order::Theirs => formats
            .iter()
            .copied()
            .find_map(|pt| preferred.iter().copied().find(|&codec| carries(pt, codec)).map(|codec| (codec, pt))),
    };
    let (codec, payload_type) = found.ok_or(OfferError::NoCommonCodec)?;
    let telephone_event = formats.iter().copied().find(|&pt| encoding_of(pt) == Some("telephone-event/8000"));
    Ok(AudioChoice { codec, payload_type, telephone_event })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The audio section of a Chromium offer (trimmed): Opus first, both
    /// G.711 laws, telephone-event at 48 and 8 kHz.
    const CHROMIUM: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n\
        a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\na=rtpmap:9 G722/8000\r\n\
        a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\n\
        a=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n";

    #[test]
    fn the_first_preferred_law_the_browser_offers_is_chosen_with_its_8khz_telephone_event() {
        let pcma_first = choose_audio(CHROMIUM, &[Codec::Pcma, Codec::Pcmu], Order::Ours);
        assert_eq!(pcma_first, Ok(AudioChoice { codec: Codec::Pcma, payload_type: 8, telephone_event: Some(126) }));
        let pcmu_first = choose_audio(CHROMIUM, &[Codec::Pcmu, Codec::Pcma], Order::Ours);
        assert_eq!(pcmu_first, Ok(AudioChoice { codec: Codec::Pcmu, payload_type: 0, telephone_event: Some(126) }));
    }

    #[test]
    fn static_payload_types_count_without_rtpmap_and_telephone_event_is_optional() {
        let sdp = "v=0\nm=audio 9 UDP/TLS/RTP/SAVPF 8\n";
        assert_eq!(
            choose_audio(sdp, &[Codec::Pcmu, Codec::Pcma], Order::Ours),
            Ok(AudioChoice { codec: Codec::Pcma, payload_type: 8, telephone_event: None })
        );
    }

    #[test]
    fn an_offer_without_g711_or_without_audio_is_refused() {
        let opus_only = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
        assert_eq!(choose_audio(opus_only, &[Codec::Pcmu], Order::Ours), Err(OfferError::NoCommonCodec));
        let video_only = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:0 PCMU/8000\r\n";
        assert_eq!(choose_audio(video_only, &[Codec::Pcmu], Order::Ours), Err(OfferError::NoAudio));
        assert_eq!(choose_audio("", &[Codec::Pcmu], Order::Ours), Err(OfferError::NoAudio));
        assert_eq!(
            choose_audio("m=audio\u{0}\u{ffff} a=rtpmap:", &[Codec::Pcmu], Order::Ours),
            Err(OfferError::NoAudio)
        );
    }

    #[test]
    fn in_an_answer_the_answerers_first_format_wins_over_our_preference() {
        let answer = "m=audio 9 UDP/TLS/RTP/SAVPF 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
        let choice = choose_audio(answer, &[Codec::Pcmu, Codec::Pcma], Order::Theirs);
        assert_eq!(choice, Ok(AudioChoice { codec: Codec::Pcma, payload_type: 8, telephone_event: Some(101) }));
        assert_eq!(choose_audio(answer, &[Codec::Pcmu], Order::Theirs).map(|c| c.codec), Ok(Codec::Pcmu));
    }

    #[test]
    fn a_dynamic_number_mapped_to_a_g711_law_counts_but_a_different_rate_does_not() {
        let sdp = "m=audio 9 RTP/SAVPF 99 98\na=rtpmap:99 PCMU/16000\na=rtpmap:98 PCMA/8000\n";
        assert_eq!(
            choose_audio(sdp, &[Codec::Pcmu, Codec::Pcma], Order::Ours).map(|c| (c.codec, c.payload_type)),
            Ok((Codec::Pcma, 98))
        );
    }
}
