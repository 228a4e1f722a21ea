//! The prompts a live caller expects to hear, read once from `prompts/`:
//! each one's length (to know when it is over) and an excerpt of its
//! opening (to check, by correlation, that it is the one being played).
//!
//! Owns loading and the verdict on a window of heard audio; never decides
//! when a prompt plays (that is the caller's script).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::traffic::Language;

/// Audio kept before a check window opens, and after the excerpt's end, so
/// that a prompt starting a little early or late is still found whole.
pub const LEAD: usize = 8_000;
pub const TAIL: usize = 8_000;
/// Length of the opening excerpt checked.
pub const EXCERPT: usize = 8_000;
/// Where the excerpt starts after the prompt's own silence: a window that
/// opens a little after the prompt began (its first packets arrived
/// before the 200 OK was handled, or it followed the previous prompt
/// sooner than expected) still holds it whole.
pub const EXCERPT_SKIP: usize = 2_000;
/// The normalised correlation above which the excerpt counts as heard;
/// a G.711 round trip scores above 0.99, another prompt below 0.5.
pub const MIN_SCORE: f64 = 0.7;

/// Prompt ids the generator's callers can meet on the 012 flow.
pub const IDS: [&str; 22] = [
    "welcome",
    "choose-language",
    "main-menu",
    "info-procedures",
    "info-health",
    "info-education",
    "info-work",
    "info-transport",
    "info-options",
    "to-operator",
    "survey-intro",
    "survey-overall",
    "survey-resolved",
    "survey-operator",
    "survey-thanks",
    "goodbye",
    // The contact options: out of hours, callback, message.
    "out-of-hours",
    "contact-options",
    "callback-offer",
    "callback-registered",
    "leave-message",
    "message-saved",
];

#[derive(Debug)]
pub struct PromptRef {
    pub language: Language,
    pub id: &'static str,
    pub length: Duration,
    /// The opening after leading silence: at most [`EXCERPT`] samples.
    pub excerpt: Vec<i16>,
    /// Leading silence skipped before the excerpt, in samples.
    pub silence: usize,
}

impl PromptRef {
    /// Samples a check window holds once the prompt's onset was heard:
    /// up to [`LEAD`] from before it, the excerpt and a margin for a
    /// prompt that starts after the previous one's tail.
    pub fn window(&self) -> usize {
        LEAD + self.excerpt.len() + TAIL
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("prompt {path}: {message}")]
    Read { path: String, message: String },
    #[error("prompt {path} is {rate} Hz, not 8000")]
    Rate { path: String, rate: u32 },
}

/// Every prompt of [`IDS`] in the four languages.
#[derive(Debug, Clone, Default)]
pub struct PromptLibrary {
    prompts: HashMap<(Language, &'static str), Arc<PromptRef>>,
}

impl PromptLibrary {
    pub fn load(prompts_dir: &Path) -> Result<PromptLibrary, PromptError> {
        let mut prompts = HashMap::new();
        for language in Language::ALL {
            for id in IDS {
                let path = prompts_dir.join(language.code()).join(format!("{id}.wav"));
                let shown = path.display().to_string();
                let (samples, rate) =
                    crate::audio::read_wav(&path).map_err(|e| PromptError::Read { path: shown.clone(), message: e.to_string() })?;
                if rate != 8000 {
                    return Err(PromptError::Rate { path: shown, rate });
                }
                prompts.insert((language, id), Arc::new(PromptRef::new(language, id, &samples)));
            }
        }
        Ok(PromptLibrary { prompts })
    }

    pub fn get(&self, language: Language, id: &str) -> Option<&Arc<PromptRef>> {
        IDS.iter().find(|i| **i == id).and_then(|id| self.prompts.get(&(language, *id)))
    }
}

impl PromptRef {
    pub fn new(language: Language, id: &'static str, samples: &[i16]) -> PromptRef {
        let silence = samples.chunks(160).take_while(|w| crate::audio::rms_dbfs(w) < -45.0).count() * 160;
        let silence = silence.min(samples.len());
        // Short prompts are checked from their start.
        let skip = if samples.len() > silence + EXCERPT_SKIP + EXCERPT { EXCERPT_SKIP } else { 0 };
        let excerpt = samples[silence + skip..].iter().take(EXCERPT).copied().collect();
        PromptRef { language, id, length: Duration::from_secs_f64(samples.len() as f64 / 8000.0), excerpt, silence }
    }
}

/// Where (and how well) the prompt's opening lines up in a heard window;
/// 0 when nothing audible was heard.
pub fn score(heard: &[i16], prompt: &PromptRef) -> f64 {
    crate::audio::find(heard, &prompt.excerpt).map_or(0.0, |m| m.score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_prompt_is_found_after_a_g711_round_trip_and_another_is_not() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../prompts");
        let library = PromptLibrary::load(&root).expect("the repository's prompts load");
        let welcome = library.get(Language::Ca, "welcome").expect("welcome");
        let menu = library.get(Language::Es, "main-menu").expect("main menu");
        assert!(welcome.length > Duration::from_secs(3));
        let (samples, _) = crate::audio::read_wav(&root.join("ca/welcome.wav")).expect("read");
        let mut heard = vec![0i16; 3_000];
        heard.extend(samples.iter().map(|s| crate::g711::ulaw_decode(crate::g711::ulaw_encode(*s))));
        heard.truncate(welcome.window());
        assert!(score(&heard, welcome) > 0.95, "{}", score(&heard, welcome));
        assert!(score(&heard, menu) < MIN_SCORE, "{}", score(&heard, menu));
        assert_eq!(score(&vec![0; 30_000], welcome), 0.0);
    }
}
