//! The queue and agent configuration: `dialplans/queues.toml` and
//! `dialplans/agents.toml` -> a checked [`AcdConfig`].
//!
//! Owns: the file shapes, their defaults and every check, each reported as
//! `file:line:column: error: message` ([`ConfigError`]). Must never panic on
//! any file content, never read files itself (the shell passes the text), and
//! never hold or resolve a secret: an agent's SIP password is a
//! [`SecretRef`] the registrar resolves.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// A 1-based line and column (columns count characters).
pub use ivr_text::Position;

/// A problem in one of the two files, where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{}:{}: error: {kind}", position.line, position.column)]
pub struct ConfigError {
    pub file: String,
    pub position: Position,
    pub kind: ConfigErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigErrorKind {
    /// The TOML parser's own finding (syntax, a wrong type, an unknown key
    /// or strategy); its text is the parser's.
    #[error("{message}")]
    Toml { message: String },
    #[error("no queue is defined (expected at least one [queues.<name>] table)")]
    NoQueues,
    #[error("invalid name {name:?}: use lowercase letters, digits, '-' and '_'")]
    InvalidName { name: String },
    #[error("relax step names skill {skill:?}, which is not in this queue's skills")]
    RelaxUnknownSkill { skill: String },
    #[error("relax step accepts nothing: give accept values or a min_level")]
    RelaxEmpty,
    #[error("relax steps must be in increasing after_secs order")]
    RelaxOutOfOrder,
    #[error("min_level names skill {skill:?}, which is not in this queue's skills")]
    MinLevelUnknownSkill { skill: String },
    #[error("skill level {level} is out of range 1..=10")]
    LevelOutOfRange { level: u8 },
    #[error("{field} must be at least 1 second")]
    ZeroDuration { field: &'static str },
    #[error("agent names unknown queue {queue:?}")]
    UnknownQueue { queue: String },
    #[error("sip_user {user:?} is used by another agent too")]
    DuplicateSipUser { user: String },
    #[error("secret reference must be exactly one of env, file or demo")]
    BadSecretRef,
}

/// How a queue picks among the agents who can take a call (policy; the
/// offer bookkeeping is the same for all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The agent idle longest since their last call (or since they became
    /// available). The default.
    #[default]
    LongestIdle,
    /// The agent with the least talk time since login; ties: longest idle.
    LeastTalkTime,
    /// The next agent after the one offered last, in agent order.
    RoundRobin,
    /// Every eligible agent rings; the first to answer wins, the others are
    /// cancelled.
    RingAll,
}

/// What a relax step lets through for one skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accept {
    /// The skill is no longer required at all (`accept = ["*"]`).
    Any,
    /// These values are accepted as well as the caller's own.
    Values(Vec<String>),
}

/// After `after` of waiting, the requirement on `skill` widens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaxStep {
    pub after: Duration,
    pub skill: String,
    /// Only for callers whose value of `skill` is one of these (empty: all).
    pub when: Vec<String>,
    pub accept: Accept,
    /// A new minimum level for `skill` (usually lower).
    pub min_level: Option<u8>,
}

/// One queue, from a `[queues.<name>]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    pub name: String,
    pub strategy: Strategy,
    /// Caller skills that must be matched (others a caller carries are
    /// ignored). Empty: any agent of the queue may answer.
    pub skills: Vec<String>,
    /// Minimum agent level per required skill (default 1).
    pub min_level: BTreeMap<String, u8>,
    pub relax: Vec<RelaxStep>,
    /// How long an agent's phone rings before the offer is withdrawn.
    pub offer_timeout: Duration,
    /// Missed offers in a row after which the agent is put on break.
    pub max_no_answer: u32,
    /// Pause after a missed or refused offer before the agent is offered again.
    pub no_answer_delay: Duration,
    pub wrap_up: Duration,
    /// Position/wait announcements (None: never).
    pub announce_interval: Option<Duration>,
    /// Longest a caller waits (the dialplan's `max_wait_secs` may shorten it).
    pub max_wait: Duration,
    /// New callers get `Closed` when no agent of the queue is logged in.
    pub close_when_no_agents: bool,
    /// Attempts after the first failed callback.
    pub callback_retries: u32,
    pub callback_retry_delay: Duration,
    /// Handle time assumed for wait estimates before any call is handled.
    pub default_handle_time: Duration,
}

/// Where the registrar finds an agent's SIP password. The ACD never
/// resolves it.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable holding the password (or its digest hash).
    Env(String),
    /// A file holding it (e.g. a mounted Kubernetes/Docker secret).
    File(String),
    /// A clearly marked demo password for local tests only; a production
    /// registrar must refuse these.
    Demo(String),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "Env({name:?})"),
            SecretRef::File(path) => write!(f, "File({path:?})"),
            SecretRef::Demo(_) => write!(f, "Demo(<redacted>)"),
        }
    }
}

/// One agent, from an `[agents.<login>]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    pub login: String,
    pub display_name: String,
    pub sip_user: String,
    pub password: Option<SecretRef>,
    /// Queues served (empty in the file: every queue).
    pub queues: Vec<String>,
    /// (skill, value, level 1..=10), e.g. ("language", "ca", 10).
    pub skills: Vec<(String, String, u8)>,
}

/// Both files, checked against each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcdConfig {
    pub queues: Vec<QueueConfig>,
    pub agents: Vec<AgentConfig>,
}

impl AcdConfig {
    /// Parses and checks the two files. `*_file` are the names used in
    /// error messages.
    pub fn parse(queues_file: &str, queues_text: &str, agents_file: &str, agents_text: &str) -> Result<AcdConfig, ConfigError> {
        let queues = parse_queues(queues_file, queues_text)?;
        let agents = parse_agents(agents_file, agents_text, &queues)?;
        Ok(AcdConfig { queues, agents })
    }
}

struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn error(&self, span: Range<usize>, kind: ConfigErrorKind) -> ConfigError {
        ConfigError { file: self.file.to_string(), position: Position::of_offset(self.text, span.start), kind }
    }

    fn parse<T: for<'de> Deserialize<'de>>(&self) -> Result<T, ConfigError> {
        toml::from_str(self.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            self.error(span, ConfigErrorKind::Toml { message: e.message().to_string() })
        })
    }

    /// The span of the `[<section>.<name>]` header, for errors about a
    /// table as a whole; the table's own span otherwise.
    fn header_span(&self, section: &str, name: &str, fallback: Range<usize>) -> Range<usize> {
        let header = format!("[{section}.{name}]");
        match self.text.find(&header) {
            Some(start) => start..start + header.len(),
            None => fallback,
        }
    }
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn secs(value: Option<Spanned<u64>>, default: u64, field: &'static str, allow_zero: bool, src: &Source) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(Duration::from_secs(default)),
        Some(v) if *v.get_ref() == 0 && !allow_zero => Err(src.error(v.span(), ConfigErrorKind::ZeroDuration { field })),
        Some(v) => Ok(Duration::from_secs(*v.get_ref())),
    }
}

fn check_level(level: &Spanned<u8>, src: &Source) -> Result<u8, ConfigError> {
    let l = *level.get_ref();
    if (1..=10).contains(&l) { Ok(l) } else { Err(src.error(level.span(), ConfigErrorKind::LevelOutOfRange { level: l })) }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueuesFile {
    #[serde(default)]
    queues: BTreeMap<String, Spanned<RawQueue>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    #[serde(default)]
    strategy: Strategy,
    #[serde(default)]
    skills: Vec<Spanned<String>>,
    #[serde(default)]
    min_level: BTreeMap<String, Spanned<u8>>,
    #[serde(default)]
    relax: Vec<Spanned<RawRelax>>,
    offer_timeout_secs: Option<Spanned<u64>>,
    max_no_answer: Option<u32>,
    no_answer_delay_secs: Option<Spanned<u64>>,
    wrap_up_secs: Option<Spanned<u64>>,
    announce_interval_secs: Option<Spanned<u64>>,
    max_wait_secs: Option<Spanned<u64>>,
    close_when_no_agents: Option<bool>,
    callback_retries: Option<u32>,
    callback_retry_delay_secs: Option<Spanned<u64>>,
    default_handle_secs: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelax {
    after_secs: u64,
    skill: Spanned<String>,
    #[serde(default)]
    when: Vec<String>,
    #[serde(default)]
    accept: Vec<String>,
    min_level: Option<Spanned<u8>>,
}

fn parse_queues(file: &str, text: &str) -> Result<Vec<QueueConfig>, ConfigError> {
    let src = Source { file, text };
    let parsed: QueuesFile = src.parse()?;
    if parsed.queues.is_empty() {
        return Err(src.error(0..0, ConfigErrorKind::NoQueues));
    }
    // Queue ids follow the order of the file, not of the names.
    let mut raw: Vec<(String, Spanned<RawQueue>)> = parsed.queues.into_iter().collect();
    raw.sort_by_key(|(name, q)| src.header_span("queues", name, q.span()).start);
    raw.into_iter().map(|(name, q)| queue_config(&src, name, q)).collect()
}

fn queue_config(src: &Source, name: String, raw: Spanned<RawQueue>) -> Result<QueueConfig, ConfigError> {
    let table_span = src.header_span("queues", &name, raw.span());
    if !is_valid_name(&name) {
        return Err(src.error(table_span, ConfigErrorKind::InvalidName { name }));
    }
    let raw = raw.into_inner();
    let mut skills = Vec::new();
    for s in &raw.skills {
        if !is_valid_name(s.get_ref()) {
            return Err(src.error(s.span(), ConfigErrorKind::InvalidName { name: s.get_ref().clone() }));
        }
        skills.push(s.get_ref().clone());
    }
    let mut min_level = BTreeMap::new();
    for (skill, level) in &raw.min_level {
        if !skills.contains(skill) {
            return Err(src.error(level.span(), ConfigErrorKind::MinLevelUnknownSkill { skill: skill.clone() }));
        }
        min_level.insert(skill.clone(), check_level(level, src)?);
    }
    let mut relax = Vec::new();
    let mut last_after = 0;
    for step in raw.relax {
        let span = step.span();
        let step = step.into_inner();
        if !skills.contains(step.skill.get_ref()) {
            return Err(src.error(step.skill.span(), ConfigErrorKind::RelaxUnknownSkill { skill: step.skill.into_inner() }));
        }
        if step.after_secs < last_after {
            return Err(src.error(span, ConfigErrorKind::RelaxOutOfOrder));
        }
        last_after = step.after_secs;
        let min_level = step.min_level.as_ref().map(|l| check_level(l, src)).transpose()?;
        if step.accept.is_empty() && min_level.is_none() {
            return Err(src.error(span, ConfigErrorKind::RelaxEmpty));
        }
        let accept = if step.accept.iter().any(|v| v == "*") { Accept::Any } else { Accept::Values(step.accept) };
        relax.push(RelaxStep { after: Duration::from_secs(step.after_secs), skill: step.skill.into_inner(), when: step.when, accept, min_level });
    }
    let announce = secs(raw.announce_interval_secs, 60, "announce_interval_secs", true, src)?;
    Ok(QueueConfig {
        name,
        strategy: raw.strategy,
        skills,
        min_level,
        relax,
        offer_timeout: secs(raw.offer_timeout_secs, 20, "offer_timeout_secs", false, src)?,
        max_no_answer: raw.max_no_answer.unwrap_or(3).max(1),
        no_answer_delay: secs(raw.no_answer_delay_secs, 5, "no_answer_delay_secs", true, src)?,
        wrap_up: secs(raw.wrap_up_secs, 30, "wrap_up_secs", true, src)?,
        announce_interval: (!announce.is_zero()).then_some(announce),
        max_wait: secs(raw.max_wait_secs, 900, "max_wait_secs", false, src)?,
        close_when_no_agents: raw.close_when_no_agents.unwrap_or(true),
        callback_retries: raw.callback_retries.unwrap_or(2),
        callback_retry_delay: secs(raw.callback_retry_delay_secs, 120, "callback_retry_delay_secs", true, src)?,
        default_handle_time: secs(raw.default_handle_secs, 240, "default_handle_secs", false, src)?,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentsFile {
    #[serde(default)]
    agents: BTreeMap<String, Spanned<RawAgent>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    name: String,
    sip_user: Option<Spanned<String>>,
    password: Option<Spanned<RawSecret>>,
    #[serde(default)]
    queues: Vec<Spanned<String>>,
    #[serde(default)]
    skills: BTreeMap<String, BTreeMap<String, Spanned<u8>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    env: Option<String>,
    file: Option<String>,
    demo: Option<String>,
}

fn parse_agents(file: &str, text: &str, queues: &[QueueConfig]) -> Result<Vec<AgentConfig>, ConfigError> {
    let src = Source { file, text };
    let parsed: AgentsFile = src.parse()?;
    let mut raw: Vec<(String, Spanned<RawAgent>)> = parsed.agents.into_iter().collect();
    raw.sort_by_key(|(login, a)| src.header_span("agents", login, a.span()).start);
    let mut sip_users = BTreeSet::new();
    let mut agents = Vec::with_capacity(raw.len());
    for (login, a) in raw {
        let table_span = src.header_span("agents", &login, a.span());
        if !is_valid_name(&login) {
            return Err(src.error(table_span, ConfigErrorKind::InvalidName { name: login }));
        }
        let a = a.into_inner();
        let sip_user = match &a.sip_user {
            Some(u) => {
                if !sip_users.insert(u.get_ref().clone()) {
                    return Err(src.error(u.span(), ConfigErrorKind::DuplicateSipUser { user: u.get_ref().clone() }));
                }
                u.get_ref().clone()
            }
            None => {
                if !sip_users.insert(login.clone()) {
                    return Err(src.error(table_span, ConfigErrorKind::DuplicateSipUser { user: login.clone() }));
                }
                login.clone()
            }
        };
        let password = match a.password {
            None => None,
            Some(p) => {
                let span = p.span();
                match p.into_inner() {
                    RawSecret { env: Some(v), file: None, demo: None } => Some(SecretRef::Env(v)),
                    RawSecret { env: None, file: Some(v), demo: None } => Some(SecretRef::File(v)),
                    RawSecret { env: None, file: None, demo: Some(v) } => Some(SecretRef::Demo(v)),
                    _ => return Err(src.error(span, ConfigErrorKind::BadSecretRef)),
                }
            }
        };
        let mut agent_queues = Vec::new();
        for q in &a.queues {
            if !queues.iter().any(|c| &c.name == q.get_ref()) {
                return Err(src.error(q.span(), ConfigErrorKind::UnknownQueue { queue: q.get_ref().clone() }));
            }
            agent_queues.push(q.get_ref().clone());
        }
        let mut skills = Vec::new();
        for (skill, values) in &a.skills {
            for (value, level) in values {
                skills.push((skill.clone(), value.clone(), check_level(level, &src)?));
            }
        }
        agents.push(AgentConfig { login, display_name: a.name, sip_user, password, queues: agent_queues, skills });
    }
    Ok(agents)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUEUES: &str = r#"
[queues.general]
strategy = "ring_all"
skills = ["language", "topic"]
min_level = { topic = 2 }
relax = [
  { after_secs = 60, skill = "language", when = ["ca"], accept = ["es"] },
  { after_secs = 120, skill = "topic", accept = ["*"] },
]
wrap_up_secs = 0
announce_interval_secs = 0

[queues.another]
"#;

    const AGENTS: &str = r#"
[agents.marta]
name = "Marta Puig"
password = { env = "IVR_SIP_MARTA" }
skills = { language = { ca = 10, es = 7 }, topic = { health = 5 } }

[agents.joan]
name = "Joan"
sip_user = "joan-desk"
queues = ["another"]
"#;

    fn err(queues: &str, agents: &str) -> String {
        match AcdConfig::parse("q.toml", queues, "a.toml", agents) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn both_files_parse_with_defaults_and_file_order() {
        let c = AcdConfig::parse("q.toml", QUEUES, "a.toml", AGENTS).expect("valid");
        assert_eq!(c.queues.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(), ["general", "another"]);
        let g = &c.queues[0];
        assert_eq!(g.strategy, Strategy::RingAll);
        assert_eq!(g.min_level.get("topic"), Some(&2));
        assert_eq!(g.relax[0].accept, Accept::Values(vec!["es".into()]));
        assert_eq!(g.relax[1].accept, Accept::Any);
        assert_eq!(g.wrap_up, Duration::ZERO);
        assert_eq!(g.announce_interval, None);
        let a = &c.queues[1];
        assert_eq!((a.strategy, a.offer_timeout, a.max_no_answer), (Strategy::LongestIdle, Duration::from_secs(20), 3));
        assert_eq!(c.agents[0].login, "marta");
        assert_eq!(c.agents[0].sip_user, "marta");
        assert_eq!(c.agents[0].password, Some(SecretRef::Env("IVR_SIP_MARTA".into())));
        assert!(c.agents[0].skills.contains(&("language".into(), "es".into(), 7)));
        assert_eq!(c.agents[1].sip_user, "joan-desk");
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = err("[queues.general]\nstrategy = \"fastest\"\n", "");
        assert!(e.starts_with("q.toml:2:12: error: unknown variant `fastest`"), "{e}");
        let e = err("[queues.general]\nskills = [\"language\"]\nrelax = [{ after_secs = 5, skill = \"topic\", accept = [\"*\"] }]\n", "");
        assert_eq!(e, "q.toml:3:36: error: relax step names skill \"topic\", which is not in this queue's skills");
        let e = err("[queues.general]\n", "[agents.a]\nname = \"A\"\nqueues = [\"nope\"]\n");
        assert_eq!(e, "a.toml:3:11: error: agent names unknown queue \"nope\"");
        let e = err("[queues.General]\n", "");
        assert!(e.starts_with("q.toml:1:1: error: invalid name \"General\""), "{e}");
        let e = err("[queues.general]\n", "[agents.a]\nname = \"A\"\nskills = { language = { ca = 11 } }\n");
        assert_eq!(e, "a.toml:3:30: error: skill level 11 is out of range 1..=10");
        let e = err("[queues.general]\nofer_timeout_secs = 3\n", "");
        assert!(e.starts_with("q.toml:2:1: error: unknown field `ofer_timeout_secs`"), "{e}");
        let e = err("", "");
        assert!(e.starts_with("q.toml:1:1: error: no queue is defined"), "{e}");
        let e = err("[queues.general]\n", "[agents.a]\nname = \"A\"\npassword = { env = \"X\", demo = \"y\" }\n");
        assert!(e.starts_with("a.toml:3:12: error: secret reference"), "{e}");
        let e = err("[queues.general]\n", "[agents.a]\nname = \"A\"\n[agents.b]\nname = \"B\"\nsip_user = \"a\"\n");
        assert!(e.starts_with("a.toml:5:12: error: sip_user \"a\" is used"), "{e}");
    }

    #[test]
    fn demo_secrets_are_redacted_in_debug() {
        assert_eq!(format!("{:?}", SecretRef::Demo("hunter2".into())), "Demo(<redacted>)");
    }
}
