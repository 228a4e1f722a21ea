//! The 012 line as the simulation loads it, once, before the first call:
//! the compiled dialplan, how long each prompt plays (from the WAV files),
//! the queue configuration, and a pool of simulated agents.
//!
//! Owns the loading and its errors. Must never be called per call: every
//! file is read here and nowhere else.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ivr_acd::AcdConfig;
use ivr_dialplan::calendar::ScheduleId;
use ivr_dialplan::compile::compile_file;
use ivr_dialplan::program::Program;
use ivr_dialplan::prompts_catalog::PromptCatalog;
use jiff::civil::Date;

use super::SimError;

/// The dialplan's schedule for staffed hours.
pub const STAFFED_SCHEDULE: &str = "staffed";
/// The holiday list the line's calendar keeps.
pub const HOLIDAY_LIST: &str = "catalonia";
/// The queue the 012 flow sends callers to.
pub const QUEUE: &str = "general";

/// How long each prompt plays, by its path in actions ("ca/welcome").
#[derive(Debug, Clone, Default)]
pub struct PromptDurations {
    by_path: HashMap<String, Duration>,
}

impl PromptDurations {
    /// Reads the length of every `<dir>/<language>/<id>.wav`.
    pub fn from_dir(dir: &Path, catalog: &PromptCatalog) -> Result<PromptDurations, SimError> {
        let mut by_path = HashMap::new();
        for language in catalog.languages() {
            for id in catalog.ids(language) {
                let path = dir.join(language).join(format!("{id}.wav"));
                let reader = hound::WavReader::open(&path).map_err(|source| SimError::Wav { path: path.clone(), source })?;
                let rate = reader.spec().sample_rate.max(1);
                let length = Duration::from_secs_f64(f64::from(reader.duration()) / f64::from(rate));
                by_path.insert(format!("{language}/{id}"), length);
            }
        }
        Ok(PromptDurations { by_path })
    }

    /// The playing time of `prompts` one after the other (an unknown
    /// prompt plays for one second, as a short silence would).
    pub fn total<S: AsRef<str>>(&self, prompts: &[S]) -> Duration {
        prompts.iter().map(|p| self.by_path.get(p.as_ref()).copied().unwrap_or(Duration::from_secs(1))).sum()
    }

    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }
}

/// Everything the simulation reads from the repository.
#[derive(Debug, Clone)]
pub struct Line {
    pub program: Arc<Program>,
    pub staffed: ScheduleId,
    pub holidays: Vec<Date>,
    pub prompts: PromptDurations,
    pub queues_text: String,
    pub queues_file: PathBuf,
}

impl Line {
    /// Loads `<root>/dialplans/012.toml` with `<root>/prompts`.
    pub fn load(root: &Path) -> Result<Line, SimError> {
        let prompts_dir = root.join("prompts");
        let catalog = PromptCatalog::from_dir(&prompts_dir).map_err(SimError::Prompts)?;
        let dialplan = root.join("dialplans/012.toml");
        let compiled = compile_file(&dialplan, &catalog).map_err(|d| SimError::Dialplan { diagnostics: d })?;
        let program = Arc::new(compiled.program);
        let staffed = program
            .calendar
            .schedule(STAFFED_SCHEDULE)
            .ok_or(SimError::MissingSchedule { name: STAFFED_SCHEDULE })?;
        let holidays = program.calendar.holidays(HOLIDAY_LIST).unwrap_or_default().into_iter().map(|h| h.date).collect();
        let queues_file = root.join("dialplans/queues.toml");
        let queues_text =
            std::fs::read_to_string(&queues_file).map_err(|source| SimError::Io { path: queues_file.clone(), source })?;
        Ok(Line { program, staffed, holidays, prompts: PromptDurations::from_dir(&prompts_dir, &catalog)?, queues_text, queues_file })
    }

    /// The holidays of the line's calendar, without reading the prompts.
    pub fn load_calendar_holidays(root: &Path) -> Result<Vec<Date>, SimError> {
        let path = root.join("dialplans/calendars/catalonia.toml");
        let text = std::fs::read_to_string(&path).map_err(|source| SimError::Io { path: path.clone(), source })?;
        let calendar = ivr_dialplan::calendar::Calendar::parse(&path.display().to_string(), &text)
            .map_err(|d| SimError::Dialplan { diagnostics: d })?;
        Ok(calendar.holidays(HOLIDAY_LIST).unwrap_or_default().into_iter().map(|h| h.date).collect())
    }

    /// The line's queues with `agents` simulated operators who speak every
    /// language and know every topic at the top level, so that the pool
    /// behaves as the one server group Erlang C describes.
    pub fn acd_config(&self, agents: u32) -> Result<AcdConfig, SimError> {
        let languages = "{ ca = 10, es = 10, en = 10, oc = 10 }";
        let topics = "{ procedures = 10, health = 10, education = 10, work = 10, transport = 10, other = 10 }";
        let mut text = String::with_capacity(agents as usize * 160);
        for i in 0..agents {
            let _ = writeln!(text, "[agents.{}]\nname = \"Simulated operator {i}\"\nskills = {{ language = {languages}, topic = {topics} }}\n", agent_login(i));
        }
        AcdConfig::parse(&self.queues_file.display().to_string(), &self.queues_text, "simulated-agents.toml", &text)
            .map_err(SimError::Acd)
    }
}

/// The login of simulated agent `i`.
pub fn agent_login(i: u32) -> String {
    format!("sim-{i:04}")
}
