//! `ivr agent add|list|remove`: the operators in the agents file
//! (`dialplans/agents.toml`, or the config's `acd.agents`) from the command
//! line. A running server picks a change up through the console's admin
//! reload.
//!
//! Owns editing that file in place: comments, order and formatting of
//! everything else are kept (`toml_edit`), the result is checked with the
//! ACD's own parser against the queues file before anything is written, and
//! it is written whole (a temp file renamed over the old one). Must never
//! write a password: an agent's SIP password is only a reference to an
//! environment variable or a file the registrar reads (`demo` passwords are
//! for the repository's demo agents and cannot be added here).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ivr_acd::{AcdConfig, AgentConfig, SecretRef};
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, Value};

use ivr::config::ServerConfig;

#[derive(clap::Args)]
pub struct AgentArgs {
    /// Server configuration file (for acd.agents and acd.queues)
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// The agents file [default: the config's acd.agents, dialplans/agents.toml]
    #[arg(long, value_name = "PATH", global = true)]
    pub agents: Option<PathBuf>,
    /// The queues file agents are checked against [default: the config's acd.queues]
    #[arg(long, value_name = "PATH", global = true)]
    pub queues_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(clap::Subcommand)]
pub enum AgentCommand {
    /// Add an operator. Their SIP password is referenced, never stored:
    /// --password-env names a variable, --password-file a file, that the
    /// server reads.
    Add {
        /// Login: lowercase letters, digits, '-' and '_'
        login: String,
        /// Display name
        #[arg(long)]
        name: String,
        /// SIP user the phone registers as [default: the login]
        #[arg(long, value_name = "USER")]
        sip_user: Option<String>,
        /// Queues served, comma-separated [default: every queue]
        #[arg(long, value_name = "Q1,Q2", value_delimiter = ',')]
        queues: Vec<String>,
        /// A skill, repeatable: SKILL=VALUE:LEVEL, level 1..=10 (e.g. language=ca:10)
        #[arg(long = "skill", value_name = "SKILL=VALUE:LEVEL")]
        skills: Vec<String>,
        /// Environment variable holding the SIP password on the server
        #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
        password_env: Option<String>,
        /// File holding the SIP password on the server (e.g. a mounted secret)
        #[arg(long, value_name = "PATH")]
        password_file: Option<PathBuf>,
    },
    /// List the operators: login, name, SIP user, queues, skills, password source.
    List,
    /// Remove an operator.
    Remove { login: String },
}

/// Carries out one `ivr agent` command; `config` gives the default files.
pub fn run(config: &ServerConfig, args: AgentArgs) -> anyhow::Result<()> {
    let agents = args.agents.unwrap_or_else(|| config.acd.agents.clone());
    let queues = args.queues_file.unwrap_or_else(|| config.acd.queues.clone());
    let files = AcdFiles::read(&agents, &queues)?;
    match args.command {
        AgentCommand::List => {
            print!("{}", list(&files.check(&files.agents_text)?));
            Ok(())
        }
        AgentCommand::Remove { login } => {
            let mut doc = files.document()?;
            remove(&mut doc, &login).with_context(|| format!("in {}", agents.display()))?;
            files.write_checked(&doc.to_string())?;
            println!("agent {login} removed from {}", agents.display());
            Ok(())
        }
        AgentCommand::Add { login, name, sip_user, queues, skills, password_env, password_file } => {
            let password = match (password_env, password_file) {
                (Some(var), _) => Some(Password::Env(checked_env_name(&var)?)),
                (None, Some(path)) => Some(Password::File(path)),
                (None, None) => None,
            };
            let skills = skills.iter().map(|s| parse_skill(s)).collect::<anyhow::Result<Vec<_>>>()?;
            let new = NewAgent { login: &login, name: &name, sip_user: sip_user.as_deref(), queues: &queues, skills: &skills, password: password.as_ref() };
            let mut doc = files.document()?;
            add(&mut doc, &new)?;
            files.write_checked(&doc.to_string())?;
            println!("agent {login} added to {}", agents.display());
            match &password {
                None => eprintln!("note: {login} has no SIP password: their phone cannot register (the browser softphone needs none)"),
                Some(Password::File(path)) if !path.exists() => {
                    eprintln!("note: {} does not exist here; the server must find it when it starts", path.display());
                }
                Some(_) => {}
            }
            Ok(())
        }
    }
}

/// Where the SIP password is found (never the password itself).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Password {
    Env(String),
    File(PathBuf),
}

struct NewAgent<'a> {
    login: &'a str,
    name: &'a str,
    sip_user: Option<&'a str>,
    queues: &'a [String],
    skills: &'a [(String, String, u8)],
    password: Option<&'a Password>,
}

/// The two ACD files, read once.
struct AcdFiles {
    agents: PathBuf,
    agents_text: String,
    queues: PathBuf,
    queues_text: String,
}

impl AcdFiles {
    fn read(agents: &Path, queues: &Path) -> anyhow::Result<AcdFiles> {
        let agents_text = std::fs::read_to_string(agents).with_context(|| format!("read the agents file {}", agents.display()))?;
        let queues_text = std::fs::read_to_string(queues).with_context(|| format!("read the queues file {}", queues.display()))?;
        Ok(AcdFiles { agents: agents.to_path_buf(), agents_text, queues: queues.to_path_buf(), queues_text })
    }

    fn document(&self) -> anyhow::Result<DocumentMut> {
        self.agents_text.parse::<DocumentMut>().with_context(|| format!("{} is not valid TOML", self.agents.display()))
    }

    /// The agents as the server would load them from `agents_text`.
    fn check(&self, agents_text: &str) -> anyhow::Result<Vec<AgentConfig>> {
        let queues_name = self.queues.display().to_string();
        let agents_name = self.agents.display().to_string();
        AcdConfig::parse(&queues_name, &self.queues_text, &agents_name, agents_text)
            .map(|c| c.agents)
            .map_err(|e| anyhow::anyhow!("the agents file would not load, nothing written: {e}"))
    }

    /// Checks `text` as the server would, then replaces the agents file
    /// with it in one rename.
    fn write_checked(&self, text: &str) -> anyhow::Result<()> {
        self.check(text)?;
        let file_name = self.agents.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "agents.toml".to_owned());
        let tmp = self.agents.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text).with_context(|| format!("write {}", tmp.display()))?;
        if let Err(e) = std::fs::rename(&tmp, &self.agents) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e).with_context(|| format!("replace {}", self.agents.display()));
        }
        Ok(())
    }
}

/// Adds `[agents.<login>]` at the end of the file, in the style of the
/// demo file (inline tables for the password and skills).
fn add(doc: &mut DocumentMut, new: &NewAgent<'_>) -> anyhow::Result<()> {
    let agents = doc.entry("agents").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let Some(agents) = agents.as_table_mut() else {
        bail!("`agents` in the agents file is not a table");
    };
    if agents.contains_key(new.login) {
        bail!("agent {:?} already exists (remove it first to change it)", new.login);
    }
    let mut table = Table::new();
    table.insert("name", toml_edit::value(new.name));
    if let Some(user) = new.sip_user {
        table.insert("sip_user", toml_edit::value(user));
    }
    if !new.queues.is_empty() {
        table.insert("queues", toml_edit::value(new.queues.iter().map(String::as_str).collect::<Array>()));
    }
    if let Some(password) = new.password {
        let mut secret = InlineTable::new();
        match password {
            Password::Env(var) => secret.insert("env", var.as_str().into()),
            Password::File(path) => secret.insert("file", path.to_string_lossy().as_ref().into()),
        };
        table.insert("password", toml_edit::value(secret));
    }
    if !new.skills.is_empty() {
        let mut skills = InlineTable::new();
        for (skill, value, level) in new.skills {
            let entry = skills.entry(skill.as_str()).or_insert_with(|| Value::InlineTable(InlineTable::new()));
            if let Some(values) = entry.as_inline_table_mut() {
                values.insert(value.as_str(), i64::from(*level).into());
            }
        }
        table.insert("skills", toml_edit::value(skills));
    }
    // A blank line before the new table, as between the others.
    table.decor_mut().set_prefix("\n");
    agents.insert(new.login, Item::Table(table));
    Ok(())
}

/// Removes `[agents.<login>]` with the comment lines right above it; a
/// comment separated from it by a blank line (the file's header, a note on
/// a group of agents) stays, above the next agent.
fn remove(doc: &mut DocumentMut, login: &str) -> anyhow::Result<()> {
    let Some(agents) = doc.get_mut("agents").and_then(Item::as_table_mut) else {
        bail!("no agent {login:?}");
    };
    let next = agents.iter().map(|(k, _)| k.to_owned()).skip_while(|k| k != login).nth(1);
    let Some(removed) = agents.remove(login) else {
        bail!("no agent {login:?}");
    };
    let prefix = removed.as_table().and_then(|t| t.decor().prefix()).and_then(|p| p.as_str()).unwrap_or_default().to_owned();
    // What ends with a blank line belongs to what comes before the table.
    let kept = prefix.rfind("\n\n").map_or("", |at| &prefix[..at + 1]);
    if kept.trim().is_empty() {
        return Ok(());
    }
    match next.and_then(|k| agents.get_mut(&k)).and_then(Item::as_table_mut) {
        Some(next) => {
            let old = next.decor().prefix().and_then(|p| p.as_str()).unwrap_or_default().to_owned();
            next.decor_mut().set_prefix(format!("{kept}{old}"));
        }
        None => {
            let trailing = doc.trailing().as_str().unwrap_or_default().to_owned();
            doc.set_trailing(format!("{kept}{trailing}"));
        }
    }
    Ok(())
}

/// `language=ca:10` -> ("language", "ca", 10).
fn parse_skill(text: &str) -> anyhow::Result<(String, String, u8)> {
    let shape = || format!("--skill {text:?}: expected SKILL=VALUE:LEVEL, e.g. language=ca:10");
    let (skill, rest) = text.split_once('=').with_context(shape)?;
    let (value, level) = rest.rsplit_once(':').with_context(shape)?;
    let (skill, value, level) = (skill.trim(), value.trim(), level.trim());
    if skill.is_empty() || value.is_empty() {
        bail!(shape());
    }
    match level.parse::<u8>() {
        Ok(n) if (1..=10).contains(&n) => Ok((skill.to_owned(), value.to_owned(), n)),
        _ => bail!("--skill {text:?}: level {level:?} is not a whole number from 1 to 10"),
    }
}

/// An environment variable's name as shells write it.
fn checked_env_name(var: &str) -> anyhow::Result<String> {
    let mut chars = var.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("--password-env {var:?}: not an environment variable name (letters, digits and '_')");
    }
    Ok(var.to_owned())
}

/// One line per agent, in file order.
fn list(agents: &[AgentConfig]) -> String {
    let mut out = String::new();
    for a in agents {
        let queues = if a.queues.is_empty() { "(all)".to_owned() } else { a.queues.join(",") };
        let skills: Vec<String> = a.skills.iter().map(|(s, v, l)| format!("{s}={v}:{l}")).collect();
        let password = match &a.password {
            None => "none".to_owned(),
            Some(SecretRef::Env(var)) => format!("env:{var}"),
            Some(SecretRef::File(path)) => format!("file:{path}"),
            Some(SecretRef::Demo(_)) => "demo".to_owned(),
        };
        let _ = writeln!(
            out,
            "{}\t{}\tsip:{}\tqueues:{queues}\tskills:{}\tpassword:{password}",
            a.login,
            a.display_name,
            a.sip_user,
            skills.join(",")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{checked_env_name, parse_skill};

    #[test]
    fn skills_read_as_skill_value_level() {
        assert_eq!(parse_skill("language=ca:10").expect("valid"), ("language".into(), "ca".into(), 10));
        assert_eq!(parse_skill(" topic = health : 8 ").expect("valid"), ("topic".into(), "health".into(), 8));
        for bad in ["language", "language=ca", "=ca:3", "language=:3", "language=ca:0", "language=ca:11", "language=ca:x", "language=ca:-1"] {
            assert!(parse_skill(bad).is_err(), "{bad}");
        }
        let message = parse_skill("topic=health:11").expect_err("out of range").to_string();
        assert!(message.contains("1 to 10") && message.contains("topic=health:11"), "{message}");
    }

    #[test]
    fn password_variables_are_names() {
        assert_eq!(checked_env_name("IVR_SIP_PASSWORD_JORDI").expect("valid"), "IVR_SIP_PASSWORD_JORDI");
        for bad in ["", "1X", "A-B", "A B", "$X"] {
            assert!(checked_env_name(bad).is_err(), "{bad}");
        }
    }
}
