//! `ivr user add|passwd|remove|list`: the console's users from the command
//! line (the first admin is made here; the console's admin page does the
//! rest).
//!
//! Owns reading a password (from `--password-file`, from a terminal without
//! echo, asked twice, or one line of standard input) and handing its
//! Argon2id hash to the store. Must never print, log or pass a password on
//! the command line.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use agent_console::password;
use anyhow::{Context, bail};
use ivr_store::Store;
use ivr_store::users::{NewUser, Role};

#[derive(clap::Args)]
pub struct UserArgs {
    /// Server configuration file (for its database URL)
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Database URL [default: sqlite://data/ivr.db]
    #[arg(long, value_name = "URL", global = true)]
    pub db: Option<String>,
    #[command(subcommand)]
    pub command: UserCommand,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Agent,
    Supervisor,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Agent => Role::Agent,
            RoleArg::Supervisor => Role::Supervisor,
            RoleArg::Admin => Role::Admin,
        }
    }
}

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Add a console user. The password comes from --password-file, or is
    /// asked for (no echo), or is one line of standard input.
    Add {
        login: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The agent (agents.toml login) this user acts as; required for role agent
        #[arg(long, value_name = "LOGIN")]
        agent: Option<String>,
        /// Display name [default: the login]
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_name = "PATH")]
        password_file: Option<PathBuf>,
    },
    /// Set a user's password (their console sessions end at the server's next check).
    Passwd {
        login: String,
        #[arg(long, value_name = "PATH")]
        password_file: Option<PathBuf>,
    },
    /// Remove a user.
    Remove { login: String },
    /// List users (never their password hashes).
    List,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

pub async fn run(db_url: &str, command: UserCommand) -> anyhow::Result<()> {
    let store = Store::connect(db_url).await.context("cannot open the database")?;
    let result = execute(&store, command).await;
    store.close().await;
    result
}

async fn execute(store: &Store, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { login, role, agent, name, password_file } => {
            let mut user = NewUser {
                display_name: name.unwrap_or_else(|| login.clone()),
                login,
                role: role.into(),
                password_hash: "$argon2id$".to_owned(),
                agent_login: agent,
            };
            // Refuse a bad login or role before asking for a password.
            user.check()?;
            if store.user(&user.login).await?.is_some() {
                bail!("a user with login {:?} exists already", user.login);
            }
            let secret = read_password(&user.login, password_file.as_deref())?;
            user.password_hash = password::hash_blocking(secret).await?;
            store.add_user(&user, now_ms()).await?;
            println!("user {} added ({})", user.login, user.role);
        }
        UserCommand::Passwd { login, password_file } => {
            if store.user(&login).await?.is_none() {
                bail!("no user has login {login:?}");
            }
            let secret = read_password(&login, password_file.as_deref())?;
            let hash = password::hash_blocking(secret).await?;
            store.set_password_hash(&login, &hash, now_ms()).await?;
            println!("password of {login} changed");
        }
        UserCommand::Remove { login } => {
            store.remove_user(&login).await?;
            println!("user {login} removed");
        }
        UserCommand::List => {
            println!("{:<24} {:<10} {:<16} {:<8} name", "login", "role", "agent", "state");
            for u in store.users().await? {
                let state = if u.disabled { "disabled" } else { "enabled" };
                let agent = u.agent_login.as_deref().unwrap_or("-");
                println!("{:<24} {:<10} {:<16} {:<8} {}", u.login, u.role.as_str(), agent, state, u.display_name);
            }
        }
    }
    Ok(())
}

/// The password, checked for length: from the file (its last line break
/// dropped), from the terminal twice without echo, or one stdin line.
fn read_password(login: &str, file: Option<&Path>) -> anyhow::Result<String> {
    let secret = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            trim_line_end(text)
        }
        None if std::io::stdin().is_terminal() => {
            let first = prompt_hidden(&format!("New password for {login}: "))?;
            password::check_new_password(&first)?;
            if prompt_hidden("Again: ")? != first {
                bail!("the two passwords differ");
            }
            first
        }
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
            trim_line_end(line)
        }
    };
    password::check_new_password(&secret)?;
    Ok(secret)
}

fn trim_line_end(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// Terminal echo off while it lives (`stty`, so that no unsafe code is
/// needed), back on when dropped, even on an error.
struct EchoOff;

fn stty(arg: &str) -> std::io::Result<()> {
    let tty = std::fs::File::open("/dev/tty")?;
    Command::new("stty").arg(arg).stdin(Stdio::from(tty)).status().map(|_| ())
}

impl EchoOff {
    fn new() -> anyhow::Result<EchoOff> {
        stty("-echo").context("cannot turn off terminal echo (stty); use --password-file")?;
        Ok(EchoOff)
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = stty("echo");
    }
}

fn prompt_hidden(prompt: &str) -> anyhow::Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let echo = EchoOff::new()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    drop(echo);
    eprintln!();
    Ok(trim_line_end(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_file_loses_only_its_last_line_break() {
        assert_eq!(trim_line_end("pa ss word\r\n".into()), "pa ss word");
        assert_eq!(trim_line_end("pa ss word\n\n".into()), "pa ss word\n");
        assert_eq!(trim_line_end("no break".into()), "no break");
    }
}
