//! Database URLs: which backend a URL names, where a SQLite file lives, and a
//! form of the URL that is safe to print.

use std::path::PathBuf;

use crate::Backend;

/// What stands in for a password in a printed URL.
const REDACTED: &str = "***";

/// The backend a URL names, from its scheme.
pub(crate) fn backend(url: &str) -> Option<Backend> {
    let (scheme, _) = url.split_once(':')?;
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => Some(Backend::Sqlite),
        "postgres" | "postgresql" => Some(Backend::Postgres),
        _ => None,
    }
}

/// `url` with the password in its user info and any `password=` query
/// parameter replaced, for errors and logs.
pub(crate) fn redact(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    // The last '@' ends the user info even when an unescaped password holds
    // '/', '?', '#' or '@': better to hide too much than to leak.
    let tail = match url.split_once("://") {
        Some((scheme, rest)) => {
            out.push_str(scheme);
            out.push_str("://");
            match rest.rsplit_once('@') {
                Some((userinfo, tail)) => {
                    match userinfo.split_once(':') {
                        Some((user, _password)) => {
                            out.push_str(user);
                            out.push(':');
                            out.push_str(REDACTED);
                        }
                        None => out.push_str(userinfo),
                    }
                    out.push('@');
                    tail
                }
                None => rest,
            }
        }
        None => url,
    };
    let Some((host_and_path, query)) = tail.split_once('?') else {
        out.push_str(tail);
        return out;
    };
    out.push_str(host_and_path);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if key.to_ascii_lowercase().ends_with("password") => {
                out.push_str(key);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    out
}

/// A SQLite URL split the way sqlx reads it (`sqlite://path`, `sqlite:path`,
/// optional `?params`).
pub(crate) struct SqliteUrl<'a> {
    path: &'a str,
    params: Option<&'a str>,
}

impl<'a> SqliteUrl<'a> {
    pub(crate) fn parse(url: &'a str) -> Self {
        // Same order as sqlx's own parser, so both agree on the path.
        let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
        match rest.split_once('?') {
            Some((path, params)) => SqliteUrl { path, params: Some(params) },
            None => SqliteUrl { path: rest, params: None },
        }
    }

    fn param(&self, name: &str) -> Option<&'a str> {
        self.params?
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// The database file, or `None` for an in-memory database.
    pub(crate) fn file(&self) -> Option<PathBuf> {
        if self.path.is_empty() || self.path == ":memory:" || self.param("mode") == Some("memory") {
            return None;
        }
        Some(PathBuf::from(percent_decode(self.path)))
    }

    /// The URL to hand to sqlx: `mode=rwc` (create the file if missing)
    /// unless the URL chose a mode itself.
    pub(crate) fn with_create_mode(&self, url: &str) -> String {
        if self.param("mode").is_some() {
            return url.to_owned();
        }
        let separator = if self.params.is_some() { '&' } else { '?' };
        format!("{url}{separator}mode=rwc")
    }
}

/// `%XX` decoding as sqlx applies it to SQLite paths; a malformed escape is
/// kept as written (sqlx then rejects the URL with its own error).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_read_from_the_scheme() {
        assert_eq!(backend("sqlite://data/ivr.db"), Some(Backend::Sqlite));
        assert_eq!(backend("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(backend("postgres://u@h/db"), Some(Backend::Postgres));
        assert_eq!(backend("PostgreSQL://u@h/db"), Some(Backend::Postgres));
        assert_eq!(backend("mysql://u@h/db"), None);
        assert_eq!(backend("data/ivr.db"), None);
    }

    #[test]
    fn redact_hides_passwords_in_userinfo_and_query() {
        assert_eq!(redact("postgres://ivr:s3cret@db:5432/ivr"), "postgres://ivr:***@db:5432/ivr");
        assert_eq!(redact("postgres://ivr:p@ss@db/ivr"), "postgres://ivr:***@db/ivr");
        assert_eq!(redact("postgres://ivr:a/b#c@db/ivr"), "postgres://ivr:***@db/ivr");
        assert_eq!(redact("postgres://ivr:a?b@db/ivr"), "postgres://ivr:***@db/ivr");
        assert_eq!(redact("postgres://ivr@db/ivr"), "postgres://ivr@db/ivr");
        assert_eq!(
            redact("postgres://db/ivr?user=ivr&password=s3cret&sslmode=require"),
            "postgres://db/ivr?user=ivr&password=***&sslmode=require"
        );
        assert_eq!(redact("sqlite://data/ivr.db?mode=rwc"), "sqlite://data/ivr.db?mode=rwc");
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn sqlite_url_names_the_file_as_sqlx_does() {
        let url = SqliteUrl::parse("sqlite://data/ivr.db");
        assert_eq!(url.file(), Some(PathBuf::from("data/ivr.db")));
        assert_eq!(url.with_create_mode("sqlite://data/ivr.db"), "sqlite://data/ivr.db?mode=rwc");

        let url = SqliteUrl::parse("sqlite:///var/lib/ivr/my%20db.db?cache=private");
        assert_eq!(url.file(), Some(PathBuf::from("/var/lib/ivr/my db.db")));
        assert_eq!(url.with_create_mode("x?cache=private"), "x?cache=private&mode=rwc");

        let url = SqliteUrl::parse("sqlite://ro.db?mode=ro");
        assert_eq!(url.with_create_mode("sqlite://ro.db?mode=ro"), "sqlite://ro.db?mode=ro");

        assert_eq!(SqliteUrl::parse("sqlite::memory:").file(), None);
        assert_eq!(SqliteUrl::parse("sqlite://x.db?mode=memory").file(), None);
    }
}
