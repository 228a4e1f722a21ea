//! The console users' contract, run unchanged on SQLite (a temporary file)
//! and PostgreSQL (a database of its own on 127.0.0.1:5432, user `postgres`,
//! trust auth, dropped at the end; a loud SKIP without one, a failure in CI).

use std::time::Duration;

use ivr_store::Store;
use ivr_store::users::{NewUser, Role, UserError, UserUpdate};
use sqlx::Executor;

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The store keeps the hash opaque; the console makes real ones.
const HASH_A: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
const HASH_B: &str = "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$b3RoZXJoYXNo";

fn suffix() -> String {
    format!("{}_{}", std::process::id(), fastrand::u64(..))
}

fn new_user(login: &str, role: Role, agent: Option<&str>) -> NewUser {
    NewUser {
        login: login.into(),
        display_name: format!("User {login}"),
        role,
        password_hash: HASH_A.into(),
        agent_login: agent.map(Into::into),
    }
}

/// The contract, against one store.
async fn contract(store: &Store) {
    // Created enabled, read back as written.
    store.add_user(&new_user("marta", Role::Agent, Some("marta")), 1_000).await.expect("add marta");
    store.add_user(&new_user("sara", Role::Supervisor, None), 2_000).await.expect("add sara");
    let marta = store.user("marta").await.expect("read").expect("marta exists");
    assert_eq!((marta.role, marta.agent_login.as_deref(), marta.disabled), (Role::Agent, Some("marta"), false));
    assert_eq!((marta.password_hash.as_str(), marta.created_at_ms), (HASH_A, 1_000));
    assert!(!format!("{marta:?}").contains("argon2"), "Debug hides the hash");
    assert!(store.user("nobody").await.expect("read").is_none());

    // A duplicate login, a bad login, an agent without an agent login, a
    // clear password: refused, nothing written.
    let refused = [
        (new_user("marta", Role::Admin, None), "Duplicate"),
        (new_user("Marta Puig", Role::Admin, None), "InvalidLogin"),
        (new_user("jordi", Role::Agent, None), "AgentLoginRequired"),
        (NewUser { password_hash: "hunter2".into(), ..new_user("pau", Role::Admin, None) }, "InvalidPasswordHash"),
        (NewUser { display_name: " ".into(), ..new_user("pau", Role::Admin, None) }, "InvalidDisplayName"),
    ];
    for (user, expected) in refused {
        let error = store.add_user(&user, 3_000).await.expect_err("refused");
        assert!(format!("{error:?}").starts_with(expected), "{error:?} is not {expected}");
    }
    let logins: Vec<String> = store.users().await.expect("list").into_iter().map(|u| u.login).collect();
    assert_eq!(logins, ["marta", "sara"]);

    // Updates: disabled, role, display name; an update that would leave an
    // agent without an agent login is refused and changes nothing.
    let update = UserUpdate { disabled: Some(true), display_name: Some("Marta P.".into()), ..UserUpdate::default() };
    let updated = store.update_user("marta", &update, 4_000).await.expect("update");
    assert!(updated.disabled);
    assert_eq!(store.user("marta").await.expect("read"), Some(updated.clone()));
    let bad = UserUpdate { agent_login: Some(None), ..UserUpdate::default() };
    assert!(matches!(store.update_user("marta", &bad, 5_000).await, Err(UserError::AgentLoginRequired)));
    assert_eq!(store.user("marta").await.expect("read"), Some(updated));
    let promote = UserUpdate { role: Some(Role::Admin), ..UserUpdate::default() };
    assert_eq!(store.update_user("sara", &promote, 5_000).await.expect("promote").role, Role::Admin);
    assert!(matches!(
        store.update_user("nobody", &promote, 5_000).await,
        Err(UserError::NotFound { .. })
    ));

    // Passwords: replaced by hash only.
    store.set_password_hash("sara", HASH_B, 6_000).await.expect("passwd");
    let sara = store.user("sara").await.expect("read").expect("sara");
    assert_eq!((sara.password_hash.as_str(), sara.updated_at_ms), (HASH_B, 6_000));
    assert!(matches!(store.set_password_hash("nobody", HASH_B, 6_000).await, Err(UserError::NotFound { .. })));
    assert!(matches!(store.set_password_hash("sara", "clear", 6_000).await, Err(UserError::InvalidPasswordHash)));

    // Removal.
    store.remove_user("sara").await.expect("remove");
    assert!(store.user("sara").await.expect("read").is_none());
    assert!(matches!(store.remove_user("sara").await, Err(UserError::NotFound { .. })));
}

#[tokio::test]
async fn users_contract_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("ivr-users-test-{}", suffix()));
    let store = Store::connect(&format!("sqlite://{}/users.db", dir.display())).await.expect("SQLite store");
    contract(&store).await;
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn users_contract_on_postgres() {
    sqlx::any::install_default_drivers();
    let admin = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .connect(PG_ADMIN_URL)
        .await;
    let admin = match admin {
        Ok(admin) => admin,
        Err(error) if std::env::var_os("CI").is_some() => panic!("PostgreSQL is required in CI: {error}"),
        Err(error) => {
            eprintln!("\n!!!!!!!! SKIP users contract on PostgreSQL: {PG_ADMIN_URL} unreachable ({error}) !!!!!!!!\n");
            return;
        }
    };
    let name = format!("ivr_users_test_{}", suffix());
    admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create database");
    let store = Store::connect(&format!("postgres://postgres@127.0.0.1:5432/{name}")).await.expect("PostgreSQL store");
    contract(&store).await;
    store.close().await;
    admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}"))).await.expect("drop database");
}
