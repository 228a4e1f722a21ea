//! What a call went through, kept for its record: the IVR path (nodes and
//! keys, e.g. `welcome>choose-language[2]>main[3]>health`) and the timeline
//! of events (prompts, keys by method, queue events, ...).
//!
//! Owns bounding both, so that a caller who loops in a menu for an hour
//! cannot grow a record without limit. It must never hold digits of a
//! sensitive entry: the interpreter masks them before they get here.

use std::time::Instant;

/// Longest IVR path kept (characters); a longer one ends with `…`.
pub const MAX_PATH_CHARS: usize = 2_000;
/// Most timeline events kept per call; later ones are counted, not kept.
pub const MAX_TIMELINE_EVENTS: usize = 500;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CallPath {
    text: String,
    truncated: bool,
}

impl CallPath {
    pub fn enter(&mut self, node: &str) {
        if !self.text.is_empty() {
            self.append(">");
        }
        self.append(node);
    }

    pub fn key(&mut self, key: &str) {
        self.append("[");
        self.append(key);
        self.append("]");
    }

    fn append(&mut self, s: &str) {
        if self.truncated {
            return;
        }
        if self.text.chars().count() + s.chars().count() > MAX_PATH_CHARS {
            self.text.push('…');
            self.truncated = true;
            return;
        }
        self.text.push_str(s);
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// One event of a call's timeline, at a monotonic instant (the record
/// converts it to wall-clock milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEvent {
    pub at: Instant,
    pub kind: &'static str,
    pub detail: String,
}

#[derive(Debug, Default, Clone)]
pub struct Timeline {
    events: Vec<TimelineEvent>,
    dropped: u64,
}

impl Timeline {
    pub fn push(&mut self, at: Instant, kind: &'static str, detail: String) {
        // One slot is kept for the note that says how many were dropped.
        if self.events.len() >= MAX_TIMELINE_EVENTS && kind != "note" {
            self.dropped += 1;
            return;
        }
        self.events.push(TimelineEvent { at, kind, detail });
    }

    #[cfg(test)]
    pub fn events(&self) -> &[TimelineEvent] {
        &self.events
    }

    /// Events not kept because the timeline was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn take(&mut self) -> Vec<TimelineEvent> {
        std::mem::take(&mut self.events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_reads_as_nodes_and_keys() {
        let mut p = CallPath::default();
        p.enter("welcome");
        p.enter("choose-language");
        p.key("2");
        p.enter("main");
        p.key("3");
        p.enter("health");
        assert_eq!(p.as_str(), "welcome>choose-language[2]>main[3]>health");
    }

    #[test]
    fn a_looping_caller_cannot_grow_the_path_or_timeline_without_limit() {
        let mut p = CallPath::default();
        let mut t = Timeline::default();
        let now = Instant::now();
        for _ in 0..10_000 {
            p.enter("main");
            p.key("9");
            t.push(now, "dtmf", "rfc4733".into());
        }
        assert!(p.as_str().chars().count() <= MAX_PATH_CHARS + 1);
        assert!(p.as_str().ends_with('…'));
        assert_eq!(t.events().len(), MAX_TIMELINE_EVENTS);
        assert_eq!(t.dropped(), 10_000 - MAX_TIMELINE_EVENTS as u64);
    }
}
