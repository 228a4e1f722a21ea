//! Start-up wiring of the parts the engine is given: the ACD from its queue
//! and agent files, the registrar with the agents' credentials, and the
//! pseudonym key for caller numbers.
//!
//! Owns reading those files and secrets (blocking IO, at start-up only). It
//! must never log a password, an HA1 or the pseudonym key.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use ivr_acd::{Acd, AcdConfig, SecretRef};
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
    let mut credentials = Credentials::new();
    let mut demo = 0;
    for agent in &acd_config.agents {
        let password = match &agent.password {
            None => {
                warn!(agent = %agent.login, "agent has no password: their phone cannot register");
                continue;
            }
            Some(SecretRef::Demo(p)) => {
                if !config.acd.allow_demo_passwords {
                    bail!("{}: agent `{}` has a demo password and acd.allow_demo_passwords is false", agents.display(), agent.login);
                }
                demo += 1;
                p.clone()
            }
            Some(SecretRef::Env(var)) => std::env::var(var)
                .with_context(|| format!("agent `{}`: environment variable {var} is not set", agent.login))?,
            Some(SecretRef::File(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("agent `{}`: cannot read its password file {path}", agent.login))?
                .trim_end()
                .to_owned(),
        };
        credentials.insert(agent.sip_user.clone(), UserCredentials::from_password(&agent.sip_user, &realm, &password));
    }
    if demo > 0 {
        warn!(agents = demo, "agents with DEMO passwords are accepted (acd.allow_demo_passwords): never in production");
    }
    let secret = random_bytes(32)?;
    let mut rng = fastrand::Rng::with_seed(u64::from_le_bytes(random_bytes(8)?.try_into().expect("8 bytes")));
    let registrar = Registrar::new(RegistrarConfig::new(realm, secret), credentials, now, &mut rng)
        .map_err(|e| anyhow::anyhow!("registrar: {e}"))?;
    info!(queues = acd_config.queues.len(), agents = acd_config.agents.len(), "ACD loaded");
    Ok((Acd::new(acd_config, now), registrar))
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
