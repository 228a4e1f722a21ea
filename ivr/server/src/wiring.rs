//! Start-up wiring of the parts the engine is given: the ACD from its queue
//! and agent files, the registrar with the agents' credentials, and the
//! pseudonym key for caller numbers.
//!
//! Owns reading those files and secrets (blocking IO: at start-up, and for
//! the agents' passwords again when the admin page replaces the agents file,
//! [`AgentPasswords::resolve`]). It must never log a password, an HA1 or the
//! pseudonym key.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use ivr_acd::{Acd, AcdConfig, AgentConfig, SecretRef};
use ivr_sip::auth::{Credentials, UserCredentials};
use ivr_sip::{Registrar, RegistrarConfig};
use ivr_store::Pseudonymizer;
use tracing::{info, warn};

use crate::config::ServerConfig;

/// The ACD and the registrar for its agents' phones.
pub fn load_acd(config: &ServerConfig, now: Instant) -> anyhow::Result<(Acd, Registrar)> {
    let read = |p: &Path| std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()));
    let (queues, agents) = (&config.acd.queues, &config.acd.agents);
    let acd_config = AcdConfig::parse(&queues.display().to_string(), &read(queues)?, &agents.display().to_string(), &read(agents)?)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let realm = config.registrar_realm.clone();
    let passwords = AgentPasswords::resolve(&acd_config.agents, config.acd.allow_demo_passwords)
        .with_context(|| agents.display().to_string())?;
    let credentials = passwords.credentials(&realm, |_| None);
    let secret = random_bytes(32)?;
    let mut rng = fastrand::Rng::with_seed(u64::from_le_bytes(random_bytes(8)?.try_into().expect("8 bytes")));
    let registrar = Registrar::new(RegistrarConfig::new(realm, secret), credentials, now, &mut rng)
        .map_err(|e| anyhow::anyhow!("registrar: {e}"))?;
    info!(queues = acd_config.queues.len(), agents = acd_config.agents.len(), "ACD loaded");
    Ok((Acd::new(acd_config, now), registrar))
}

/// An agent's phone password, read from its reference: never printed.
#[derive(Clone)]
struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Why an agent's password reference cannot be used: the agents file is
/// refused whole (at start-up, or its live change from the admin page).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("agent `{agent}` has a demo password and acd.allow_demo_passwords is false")]
    DemoNotAllowed { agent: String },
    #[error("agent `{agent}`: environment variable {var} is not set")]
    EnvUnset {
        agent: String,
        var: String,
        #[source]
        source: std::env::VarError,
    },
    #[error("agent `{agent}`: cannot read its password file {path}")]
    File {
        agent: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The agents' phone passwords of one agents file, resolved (`demo`, `env`,
/// `file` references), by login. Agents without a password have none here:
/// their phone cannot register.
#[derive(Debug, Clone, Default)]
pub struct AgentPasswords {
    /// (login, SIP user in the file, password).
    agents: Vec<(String, String, Password)>,
}

impl AgentPasswords {
    /// Reads every agent's password (environment, files: blocking IO). A
    /// demo password is refused unless `allow_demo`; the first reference
    /// that cannot be read refuses them all.
    pub fn resolve(agents: &[AgentConfig], allow_demo: bool) -> Result<AgentPasswords, PasswordError> {
        let mut resolved = Vec::with_capacity(agents.len());
        let mut demo = 0;
        for agent in agents {
            let login = || agent.login.clone();
            let password = match &agent.password {
                None => {
                    warn!(agent = %agent.login, "agent has no password: their phone cannot register");
                    continue;
                }
                Some(SecretRef::Demo(p)) => {
                    if !allow_demo {
                        return Err(PasswordError::DemoNotAllowed { agent: login() });
                    }
                    demo += 1;
                    p.clone()
                }
                Some(SecretRef::Env(var)) => {
                    std::env::var(var).map_err(|source| PasswordError::EnvUnset { agent: login(), var: var.clone(), source })?
                }
                Some(SecretRef::File(path)) => std::fs::read_to_string(path)
                    .map_err(|source| PasswordError::File { agent: login(), path: path.clone(), source })?
                    .trim_end()
                    .to_owned(),
            };
            resolved.push((agent.login.clone(), agent.sip_user.clone(), Password(password)));
        }
        if demo > 0 {
            warn!(agents = demo, "agents with DEMO passwords are accepted (acd.allow_demo_passwords): never in production");
        }
        Ok(AgentPasswords { agents: resolved })
    }

    /// The registrar's credentials in `realm`: one digest user per agent
    /// with a password. `sip_user_of(login)` names the SIP user when the
    /// running ACD knows it (it keeps an agent's SIP user across live
    /// edits); `None`: the file's.
    pub fn credentials(&self, realm: &str, sip_user_of: impl Fn(&str) -> Option<String>) -> Credentials {
        let mut credentials = Credentials::new();
        for (login, file_user, password) in &self.agents {
            let user = sip_user_of(login).unwrap_or_else(|| file_user.clone());
            credentials.insert(user.clone(), UserCredentials::from_password(&user, realm, &password.0));
        }
        credentials
    }
}

/// The key for caller-number pseudonyms: `data/pseudonym.key`, created with
/// 32 random bytes (mode 0600) on first start. Keep it: a new key makes
/// every caller look new (repeat-caller and survey rules).
pub fn pseudonymizer(data_dir: &Path) -> anyhow::Result<Pseudonymizer> {
    let path = data_dir.join("pseudonym.key");
    let key = match std::fs::read(&path) {
        Ok(key) => key,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
            let key = random_bytes(32)?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&path).with_context(|| format!("cannot create {}", path.display()))?;
            file.write_all(&key)?;
            file.sync_all()?;
            info!(path = %path.display(), "created the caller-pseudonym key");
            key
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Pseudonymizer::new(&key).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn random_bytes(n: usize) -> anyhow::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("cannot read the OS random source")?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(login: &str, password: Option<SecretRef>) -> AgentConfig {
        AgentConfig {
            login: login.to_owned(),
            display_name: login.to_owned(),
            sip_user: login.to_owned(),
            password,
            queues: Vec::new(),
            skills: Vec::new(),
        }
    }

    #[test]
    fn demo_passwords_are_refused_unless_allowed_and_agents_without_one_get_no_user() {
        let agents = [agent("marta", Some(SecretRef::Demo("demo-marta".into()))), agent("pau", None)];
        let refused = AgentPasswords::resolve(&agents, false).expect_err("demo refused");
        assert_eq!(refused.to_string(), "agent `marta` has a demo password and acd.allow_demo_passwords is false");
        let credentials = AgentPasswords::resolve(&agents, true).expect("demo allowed").credentials("012", |_| None);
        assert!(credentials.contains("marta") && !credentials.contains("pau"));
        assert_eq!(credentials.len(), 1);
    }

    #[test]
    fn an_unreadable_reference_refuses_the_whole_file_naming_the_agent() {
        let unset = [agent("marta", Some(SecretRef::Demo("x".into()))), agent("pau", Some(SecretRef::Env("IVR_TEST_NO_SUCH_VARIABLE".into())))];
        let e = AgentPasswords::resolve(&unset, true).expect_err("unset variable");
        assert_eq!(e.to_string(), "agent `pau`: environment variable IVR_TEST_NO_SUCH_VARIABLE is not set");
        let missing = [agent("aran", Some(SecretRef::File("/nonexistent/ivr-test-password".into())))];
        let e = AgentPasswords::resolve(&missing, true).expect_err("missing file");
        assert_eq!(e.to_string(), "agent `aran`: cannot read its password file /nonexistent/ivr-test-password");
    }

    #[test]
    fn the_running_acds_sip_user_names_the_digest_user() {
        let agents = [agent("marta", Some(SecretRef::Demo("demo-marta".into())))];
        let passwords = AgentPasswords::resolve(&agents, true).expect("resolved");
        let credentials = passwords.credentials("012", |login| (login == "marta").then(|| "1001".to_owned()));
        assert!(credentials.contains("1001") && !credentials.contains("marta"));
        let expected = UserCredentials::from_password("1001", "012", "demo-marta");
        let mut only = Credentials::new();
        only.insert("1001", expected);
        assert_eq!(credentials, only, "the HA1 is over the running SIP user");
    }
}
