//! The console's users: who may log in to the agent and supervisor console,
//! with which role, and which ACD agent an operator acts as.
//!
//! # What it owns
//! - The `console_users` table (migration 0004) and every statement on it.
//! - The checks a user must pass before it is stored ([`NewUser::check`]):
//!   login syntax, display name, an agent login for role `agent`.
//!
//! # What it must never do
//! - See or store a clear password: the console hashes it (Argon2id, a PHC
//!   string) and hands over only the hash. [`User`]'s `Debug` hides it.
//! - Decide authorisation: roles are data here; the console enforces them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError};

/// The longest login and agent login.
pub const MAX_LOGIN_LEN: usize = 64;
/// The longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// What a user may do in the console (the console enforces it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An operator: their own status and calls, the live queue.
    Agent,
    /// Also every agent's status, the wallboard, monitoring, reports.
    Supervisor,
    /// Also users and the configuration.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Agent, Role::Supervisor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text that names no [`Role`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (expected agent, supervisor or admin)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A stored user.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub login: String,
    pub display_name: String,
    pub role: Role,
    /// Argon2id PHC string (`$argon2id$v=19$...`).
    pub password_hash: String,
    /// The ACD agent this user acts as (required for role agent).
    pub agent_login: Option<String>,
    pub disabled: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("login", &self.login)
            .field("display_name", &self.display_name)
            .field("role", &self.role)
            .field("password_hash", &"<redacted>")
            .field("agent_login", &self.agent_login)
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// A user to create.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    pub login: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: String,
    pub agent_login: Option<String>,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("login", &self.login)
            .field("role", &self.role)
            .field("agent_login", &self.agent_login)
            .finish_non_exhaustive()
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    /// `Some(None)` clears it (not allowed for role agent).
    pub agent_login: Option<Option<String>>,
    pub disabled: Option<bool>,
}

/// Why a user operation was refused or failed. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("invalid login {login:?}: 1 to 64 lowercase letters, digits, '.', '-' or '_'")]
    InvalidLogin { login: String },
    #[error("invalid display name: 1 to 100 characters, no control characters")]
    InvalidDisplayName,
    #[error("a user of role agent needs the agent login they act as")]
    AgentLoginRequired,
    #[error("the password hash is not an Argon2id PHC string")]
    InvalidPasswordHash,
    #[error("a user with login {login:?} exists already")]
    Duplicate { login: String },
    #[error("no user has login {login:?}")]
    NotFound { login: String },
    /// A row the console did not write (edited by hand).
    #[error("stored user {login:?} has an unknown role {role:?}")]
    Corrupt { login: String, role: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn is_valid_login(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= MAX_LOGIN_LEN
        && login.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
}

fn check_display_name(name: &str) -> Result<(), UserError> {
    let chars = name.chars().count();
    if name.trim().is_empty() || chars > MAX_DISPLAY_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(UserError::InvalidDisplayName);
    }
    Ok(())
}

fn check_agent_login(role: Role, agent_login: Option<&str>) -> Result<(), UserError> {
    match agent_login {
        None if role == Role::Agent => Err(UserError::AgentLoginRequired),
        Some(agent) if !is_valid_login(agent) => Err(UserError::InvalidLogin { login: agent.to_owned() }),
        _ => Ok(()),
    }
}

fn check_hash(hash: &str) -> Result<(), UserError> {
    if hash.starts_with("$argon2id$") { Ok(()) } else { Err(UserError::InvalidPasswordHash) }
}

impl NewUser {
    /// Every check [`Store::add_user`] makes before it writes.
    pub fn check(&self) -> Result<(), UserError> {
        if !is_valid_login(&self.login) {
            return Err(UserError::InvalidLogin { login: self.login.clone() });
        }
        check_display_name(&self.display_name)?;
        check_agent_login(self.role, self.agent_login.as_deref())?;
        check_hash(&self.password_hash)
    }
}

const COLUMNS: &str = "login, display_name, role, password_hash, agent_login, disabled, created_at_ms, updated_at_ms";
const INSERT: &str = "INSERT INTO console_users \
     (login, display_name, role, password_hash, agent_login, disabled, created_at_ms, updated_at_ms) \
     VALUES ($1, $2, $3, $4, $5, 0, $6, $6) ON CONFLICT (login) DO NOTHING";
const UPDATE: &str = "UPDATE console_users SET display_name = $1, role = $2, agent_login = $3, disabled = $4, \
     updated_at_ms = $5 WHERE login = $6";
const SET_HASH: &str = "UPDATE console_users SET password_hash = $1, updated_at_ms = $2 WHERE login = $3";
const DELETE: &str = "DELETE FROM console_users WHERE login = $1";

fn user_from_row(backend: crate::Backend, row: &AnyRow) -> Result<User, UserError> {
    let decode = |source| StoreError::Query { backend, op: "decode user", source };
    let login: String = row.try_get("login").map_err(decode)?;
    let role: String = row.try_get("role").map_err(decode)?;
    let role = role.parse().map_err(|_| UserError::Corrupt { login: login.clone(), role })?;
    Ok(User {
        display_name: row.try_get("display_name").map_err(decode)?,
        role,
        password_hash: row.try_get("password_hash").map_err(decode)?,
        agent_login: row.try_get("agent_login").map_err(decode)?,
        disabled: row.try_get::<i64, _>("disabled").map_err(decode)? != 0,
        created_at_ms: row.try_get("created_at_ms").map_err(decode)?,
        updated_at_ms: row.try_get("updated_at_ms").map_err(decode)?,
        login,
    })
}

impl Store {
    fn user_query_error(&self, op: &'static str) -> impl Fn(sqlx::Error) -> UserError + '_ {
        move |source| UserError::Store(StoreError::Query { backend: self.backend, op, source })
    }

    /// Creates a user, enabled. Refused: a failed [`NewUser::check`], or a
    /// login that exists already.
    pub async fn add_user(&self, user: &NewUser, now_ms: i64) -> Result<(), UserError> {
        user.check()?;
        let result = sqlx::query(INSERT)
            .bind(&user.login)
            .bind(&user.display_name)
            .bind(user.role.as_str())
            .bind(&user.password_hash)
            .bind(user.agent_login.as_deref())
            .bind(now_ms)
            .execute(&self.pool)
            .await
            .map_err(self.user_query_error("add_user"))?;
        if result.rows_affected() == 0 {
            return Err(UserError::Duplicate { login: user.login.clone() });
        }
        Ok(())
    }

    /// The user with this login, if any.
    pub async fn user(&self, login: &str) -> Result<Option<User>, UserError> {
        let sql = format!("SELECT {COLUMNS} FROM console_users WHERE login = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(login)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.user_query_error("user"))?;
        row.as_ref().map(|row| user_from_row(self.backend, row)).transpose()
    }

    /// Every user, by login.
    pub async fn users(&self) -> Result<Vec<User>, UserError> {
        let sql = format!("SELECT {COLUMNS} FROM console_users ORDER BY login");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(self.user_query_error("users"))?;
        rows.iter().map(|row| user_from_row(self.backend, row)).collect()
    }

    /// Applies `update` and returns the user as stored. The result must
    /// still pass the checks of a new user.
    pub async fn update_user(&self, login: &str, update: &UserUpdate, now_ms: i64) -> Result<User, UserError> {
        let mut user = self.user(login).await?.ok_or_else(|| UserError::NotFound { login: login.to_owned() })?;
        if let Some(name) = &update.display_name {
            check_display_name(name)?;
            user.display_name = name.clone();
        }
        if let Some(role) = update.role {
            user.role = role;
        }
        if let Some(agent) = &update.agent_login {
            user.agent_login = agent.clone();
        }
        if let Some(disabled) = update.disabled {
            user.disabled = disabled;
        }
        check_agent_login(user.role, user.agent_login.as_deref())?;
        user.updated_at_ms = now_ms;
        let result = sqlx::query(UPDATE)
            .bind(&user.display_name)
            .bind(user.role.as_str())
            .bind(user.agent_login.as_deref())
            .bind(i64::from(user.disabled))
            .bind(now_ms)
            .bind(login)
            .execute(&self.pool)
            .await
            .map_err(self.user_query_error("update_user"))?;
        if result.rows_affected() == 0 {
            return Err(UserError::NotFound { login: login.to_owned() });
        }
        Ok(user)
    }

    /// Replaces a user's password hash.
    pub async fn set_password_hash(&self, login: &str, hash: &str, now_ms: i64) -> Result<(), UserError> {
        check_hash(hash)?;
        let result = sqlx::query(SET_HASH)
            .bind(hash)
            .bind(now_ms)
            .bind(login)
            .execute(&self.pool)
            .await
            .map_err(self.user_query_error("set_password_hash"))?;
        if result.rows_affected() == 0 {
            return Err(UserError::NotFound { login: login.to_owned() });
        }
        Ok(())
    }

    /// Deletes a user.
    pub async fn remove_user(&self, login: &str) -> Result<(), UserError> {
        let result = sqlx::query(DELETE)
            .bind(login)
            .execute(&self.pool)
            .await
            .map_err(self.user_query_error("remove_user"))?;
        if result.rows_affected() == 0 {
            return Err(UserError::NotFound { login: login.to_owned() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("root".parse::<Role>(), Err(UnknownRole("root".into())));
    }

    #[test]
    fn logins_are_lowercase_names_of_at_most_64_characters() {
        assert!(is_valid_login("marta.puig_2"));
        for bad in ["", "Marta", "marta puig", "marta@012", &"a".repeat(65)] {
            assert!(!is_valid_login(bad), "{bad:?}");
        }
    }
}
