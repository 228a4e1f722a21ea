//! `ivr agent add|list|remove` run as an administrator runs it, on a temp
//! copy of the repository's `dialplans/agents.toml` and `queues.toml`: the
//! file is edited in place with its comments kept, every change is checked
//! by the ACD's own parser before it is written, and a refused change
//! leaves the file exactly as it was.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A folder of its own with copies of the two ACD files; removed on drop.
struct Files {
    dir: PathBuf,
}

impl Files {
    fn new(label: &str) -> Files {
        let dir = std::env::temp_dir().join(format!("ivr-cli-agents-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test folder");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans");
        for name in ["agents.toml", "queues.toml"] {
            std::fs::copy(repo.join(name), dir.join(name)).unwrap_or_else(|e| panic!("copy dialplans/{name}: {e}"));
        }
        Files { dir }
    }

    fn agents(&self) -> String {
        std::fs::read_to_string(self.dir.join("agents.toml")).expect("read agents.toml")
    }

    /// `ivr agent --agents .. --queues-file .. <args>`.
    fn ivr(&self, args: &[&str]) -> Output {
        let agents = self.dir.join("agents.toml");
        let queues = self.dir.join("queues.toml");
        let mut command = Command::new(env!("CARGO_BIN_EXE_ivr"));
        command.arg("agent").arg("--agents").arg(&agents).arg("--queues-file").arg(&queues).args(args);
        command.current_dir(&self.dir).output().expect("run ivr")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.ivr(args);
        assert!(out.status.success(), "ivr agent {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command that must fail, leaving the file untouched; returns
    /// its error output.
    fn refused(&self, args: &[&str]) -> String {
        let before = self.agents();
        let out = self.ivr(args);
        assert!(!out.status.success(), "ivr agent {args:?} should fail");
        assert_eq!(self.agents(), before, "a refused change must not touch the file");
        let leftovers: Vec<_> = std::fs::read_dir(&self.dir).expect("list").filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().ends_with(".tmp")).collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn list_logins(&self) -> Vec<String> {
        self.ok(&["list"]).lines().filter_map(|l| l.split('\t').next()).map(str::to_owned).collect()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const NURIA: &[&str] = &[
    "add",
    "nuria",
    "--name",
    "Núria Soler",
    "--sip-user",
    "nsoler",
    "--queues",
    "general",
    "--skill",
    "language=ca:10",
    "--skill",
    "topic=health:8",
    "--skill",
    "language=es:7",
    "--password-env",
    "IVR_SIP_PASSWORD_NURIA",
];

#[test]
fn list_shows_the_demo_agents_in_file_order() {
    let files = Files::new("list");
    let out = files.ok(&["list"]);
    let jordi = out.lines().find(|l| l.starts_with("jordi\t")).expect("jordi is listed");
    assert_eq!(
        jordi,
        "jordi\tJordi Vidal\tsip:jordi\tqueues:(all)\tskills:language=ca:10,language=es:10,topic=education:8,topic=other:6,topic=procedures:4,topic=transport:7\tpassword:demo"
    );
    assert_eq!(files.list_logins(), ["marta", "jordi", "aran", "lucia"]);
}

#[test]
fn add_appends_the_agent_and_keeps_every_comment_and_line_of_the_file() {
    let files = Files::new("add");
    let before = files.agents();
    let out = files.ok(NURIA);
    assert!(out.contains("agent nuria added"), "{out}");
    let after = files.agents();
    assert!(after.starts_with(&before), "the old file is kept byte for byte, the agent appended:\n{after}");
    assert_eq!(
        &after[before.len()..],
        "\n[agents.nuria]\nname = \"Núria Soler\"\nsip_user = \"nsoler\"\nqueues = [\"general\"]\n\
         password = { env = \"IVR_SIP_PASSWORD_NURIA\" }\n\
         skills = { language = { ca = 10, es = 7 }, topic = { health = 8 } }\n"
    );
    let line = files.ok(&["list"]).lines().find(|l| l.starts_with("nuria\t")).map(str::to_owned);
    assert_eq!(
        line.as_deref(),
        Some("nuria\tNúria Soler\tsip:nsoler\tqueues:general\tskills:language=ca:10,language=es:7,topic=health:8\tpassword:env:IVR_SIP_PASSWORD_NURIA")
    );
}

#[test]
fn a_password_file_is_referenced_never_copied() {
    let files = Files::new("pwfile");
    let secret = files.dir.join("pere.secret");
    std::fs::write(&secret, "s3cret-value\n").expect("write the secret");
    let path = secret.to_string_lossy().into_owned();
    files.ok(&["add", "pere", "--name", "Pere", "--password-file", &path]);
    let text = files.agents();
    assert!(text.contains(&format!("password = {{ file = \"{path}\" }}")), "{text}");
    assert!(!text.contains("s3cret-value"));
    let err = files.refused(&["add", "rosa", "--name", "Rosa", "--password-env", "X", "--password-file", &path]);
    assert!(err.contains("cannot be used with"), "{err}");
    let err = files.refused(&["add", "rosa", "--name", "Rosa", "--password-env", "NOT-A-NAME"]);
    assert!(err.contains("not an environment variable name"), "{err}");
    let err = files.refused(&["add", "rosa", "--name", "Rosa", "--password-demo", "x"]);
    assert!(err.contains("--password-demo"), "there is no way to write a demo password: {err}");
}

#[test]
fn remove_takes_out_that_agent_only_and_keeps_the_files_header() {
    let files = Files::new("remove");
    let before = files.agents();
    let out = files.ok(&["remove", "marta"]);
    assert!(out.contains("agent marta removed"), "{out}");
    let after = files.agents();
    let header_end = before.find("[agents.marta]").expect("marta in the demo file");
    let marta_end = before.find("[agents.jordi]").expect("jordi in the demo file");
    assert_eq!(after, format!("{}{}", &before[..header_end], &before[marta_end..]), "header comments and other agents kept");
    assert_eq!(files.list_logins(), ["jordi", "aran", "lucia"]);
    let err = files.refused(&["remove", "marta"]);
    assert!(err.contains("no agent \"marta\""), "{err}");
}

#[test]
fn adding_then_removing_restores_the_file_byte_for_byte() {
    let files = Files::new("roundtrip");
    let before = files.agents();
    files.ok(NURIA);
    files.ok(&["remove", "nuria"]);
    assert_eq!(files.agents(), before);
}

#[test]
fn duplicates_are_refused() {
    let files = Files::new("dup");
    let err = files.refused(&["add", "jordi", "--name", "Another Jordi"]);
    assert!(err.contains("agent \"jordi\" already exists"), "{err}");
    // A new login whose SIP user is taken: the ACD's own check says so.
    let err = files.refused(&["add", "jvidal", "--name", "J. Vidal", "--sip-user", "jordi"]);
    assert!(err.contains("sip_user \"jordi\" is used by another agent too") && err.contains("nothing written"), "{err}");
}

#[test]
fn bad_skills_queues_and_logins_are_refused_with_a_clear_message() {
    let files = Files::new("bad");
    let err = files.refused(&["add", "pere", "--name", "Pere", "--skill", "topic=health:11"]);
    assert!(err.contains("--skill \"topic=health:11\": level \"11\" is not a whole number from 1 to 10"), "{err}");
    let err = files.refused(&["add", "pere", "--name", "Pere", "--skill", "language-ca-10"]);
    assert!(err.contains("expected SKILL=VALUE:LEVEL"), "{err}");
    let err = files.refused(&["add", "pere", "--name", "Pere", "--queues", "general,nope"]);
    assert!(err.contains("agent names unknown queue \"nope\""), "{err}");
    let err = files.refused(&["add", "Pere Soler", "--name", "Pere"]);
    assert!(err.contains("invalid name"), "{err}");
}

#[test]
fn the_default_files_come_from_the_server_config() {
    let files = Files::new("config");
    let config = files.dir.join("ivr.toml");
    std::fs::write(
        &config,
        format!(
            "[acd]\nagents = \"{}\"\nqueues = \"{}\"\n",
            files.dir.join("agents.toml").display(),
            files.dir.join("queues.toml").display()
        ),
    )
    .expect("write the config");
    let out = Command::new(env!("CARGO_BIN_EXE_ivr"))
        .args(["agent", "--config"])
        .arg(&config)
        .args(["add", "pere", "--name", "Pere"])
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run ivr");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(files.agents().contains("[agents.pere]"));
}
