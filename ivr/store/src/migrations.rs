//! The schema, embedded in the binary: one folder of numbered SQL files per
//! backend, because the DDL differs (INTEGER/STRICT against BIGINT).
//!
//! The files are listed here by hand rather than with `sqlx::migrate!`: the
//! macro needs sqlx's `macros` feature, which builds the bundled SQLite a
//! second time for the proc-macro. A test checks that every file in the
//! folders is listed, and the checksums are the ones `migrate!` and the sqlx
//! CLI compute (SHA-384 of the SQL), so either can take over later.

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::Backend;

/// (version, description, SQL) in version order; the file is
/// `<version as 4 digits>_<description>.sql` in the backend's folder.
type Source = (i64, &'static str, &'static str);

const SQLITE: &[Source] = &[
    (1, "calls", include_str!("../migrations/sqlite/0001_calls.sql")),
    (2, "full_record", include_str!("../migrations/sqlite/0002_full_record.sql")),
    (3, "reports", include_str!("../migrations/sqlite/0003_reports.sql")),
    (4, "console", include_str!("../migrations/sqlite/0004_console.sql")),
    (5, "report_summary", include_str!("../migrations/sqlite/0005_report_summary.sql")),
    (6, "call_wrapups", include_str!("../migrations/sqlite/0006_call_wrapups.sql")),
    (7, "lean_indexes", include_str!("../migrations/sqlite/0007_lean_indexes.sql")),
];

const POSTGRES: &[Source] = &[
    (1, "calls", include_str!("../migrations/postgres/0001_calls.sql")),
    (2, "full_record", include_str!("../migrations/postgres/0002_full_record.sql")),
    (3, "reports", include_str!("../migrations/postgres/0003_reports.sql")),
    (4, "console", include_str!("../migrations/postgres/0004_console.sql")),
    (5, "report_summary", include_str!("../migrations/postgres/0005_report_summary.sql")),
    (6, "call_wrapups", include_str!("../migrations/postgres/0006_call_wrapups.sql")),
    (7, "lean_indexes", include_str!("../migrations/postgres/0007_lean_indexes.sql")),
];

fn sources(backend: Backend) -> &'static [Source] {
    match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }
}

/// The migrator for `backend`'s schema.
pub(crate) fn migrator(backend: Backend) -> Migrator {
    Migrator::with_migrations(
        sources(backend)
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded_and_both_backends_agree() {
        for (backend, folder) in [(Backend::Sqlite, "sqlite"), (Backend::Postgres, "postgres")] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(folder);
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .expect("migration folder exists")
                .map(|entry| entry.expect("readable entry").file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            let listed: Vec<String> = sources(backend)
                .iter()
                .map(|(version, description, _)| format!("{version:04}_{description}.sql"))
                .collect();
            assert_eq!(files, listed, "{folder}: files and the embedded list differ");
            for ((version, _, sql), file) in sources(backend).iter().zip(&files) {
                let on_disk = std::fs::read_to_string(dir.join(file)).expect("readable migration");
                assert_eq!(*sql, on_disk, "{folder} v{version}");
            }
        }
        let versions = |backend| sources(backend).iter().map(|s| (s.0, s.1)).collect::<Vec<_>>();
        assert_eq!(versions(Backend::Sqlite), versions(Backend::Postgres));
    }
}
