//! Server configuration: the TOML file (`--config`) and the command-line
//! flags that override it.
//!
//! Owns parsing and validating configuration into [`ServerConfig`]. It must
//! never start anything: a bad file is a [`ConfigError`] with the file, line
//! and column, reported before any socket is opened.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_console::ConsoleConfig;
use agent_console::softphone_config::{IceServer, check_ice_servers};
use ivr_store::wrapup::{MAX_CODE_LEN, is_valid_code};
use serde::Deserialize;

/// Everything `ivr serve` needs, after the file and the flags are merged.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub sip: SipConfig,
    pub http_listen: SocketAddr,
    pub db_url: String,
    /// The dialplan file; the calendar and queue files it names are relative to it.
    pub dialplan: PathBuf,
    pub prompts_dir: PathBuf,
    pub media: MediaConfig,
    pub shutdown_grace: Duration,
    /// Where the record journal, recorded messages and the pseudonym key live.
    pub data_dir: PathBuf,
    pub acd: AcdFiles,
    /// Digest realm of the registrar operators' phones register with.
    pub registrar_realm: String,
    /// How long a callback number is kept in clear before it is purged.
    pub callback_retention: Duration,
    /// STUN/TURN servers handed to the browser softphones
    /// (`webrtc.ice_servers`); empty: host candidates only.
    pub ice_servers: Vec<IceServer>,
    /// The browser's microphone processing (`webrtc.voice_processing`,
    /// default on).
    pub voice_processing: bool,
    /// The disposition codes agents choose from at wrap-up
    /// (`console.disposition_codes`, checked by [`check_disposition_codes`]).
    pub disposition_codes: Vec<String>,
}

/// The ACD's configuration files and how far to trust them.
#[derive(Debug, Clone, PartialEq)]
pub struct AcdFiles {
    pub queues: PathBuf,
    pub agents: PathBuf,
    /// Accept `password = { demo = ".." }` agents (local tests and
    /// development). Production configs set this to false.
    pub allow_demo_passwords: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SipConfig {
    /// UDP and TCP listen address.
    pub listen: SocketAddr,
    /// The address written in Via, Contact and SDP when `listen` is a
    /// wildcard (0.0.0.0 / ::). Without it, the server uses the local address
    /// that routes to each caller.
    pub advertised_ip: Option<IpAddr>,
    pub user_agent: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPortRange {
    pub first: u16,
    pub last: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MediaConfig {
    pub rtp_ports: RtpPortRange,
    /// No RTP or RTCP from the caller for this long ends the call.
    pub media_timeout: Duration,
    /// Detect DTMF tones in the caller's audio (Goertzel, ITU-T Q.24).
    pub inband_dtmf: bool,
    /// Run the media thread under SCHED_FIFO so that other processes on a
    /// busy machine cannot delay RTP sends. Needs root or CAP_SYS_NICE;
    /// without it the server warns and runs at normal priority.
    pub realtime: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("invalid RTP port range {value:?}: {reason}")]
    RtpPorts { value: String, reason: &'static str },
    #[error("invalid value for {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// The file's shape. Every key is optional; defaults are the product's.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    sip: FileSip,
    #[serde(default)]
    http: FileHttp,
    #[serde(default)]
    db: FileDb,
    dialplan: Option<PathBuf>,
    #[serde(default)]
    prompts: FilePrompts,
    #[serde(default)]
    media: FileMedia,
    #[serde(default)]
    shutdown: FileShutdown,
    #[serde(default)]
    data: FileData,
    #[serde(default)]
    acd: FileAcd,
    #[serde(default)]
    registrar: FileRegistrar,
    #[serde(default)]
    privacy: FilePrivacy,
    #[serde(default)]
    webrtc: FileWebrtc,
    #[serde(default)]
    console: FileConsole,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConsole {
    disposition_codes: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWebrtc {
    #[serde(default)]
    ice_servers: Vec<IceServer>,
    voice_processing: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileData {
    dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAcd {
    queues: Option<PathBuf>,
    agents: Option<PathBuf>,
    allow_demo_passwords: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRegistrar {
    realm: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePrivacy {
    callback_retention_days: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSip {
    listen: Option<SocketAddr>,
    advertised_ip: Option<IpAddr>,
    user_agent: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHttp {
    listen: Option<SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDb {
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePrompts {
    dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMedia {
    rtp_ports: Option<String>,
    media_timeout_secs: Option<u64>,
    inband_dtmf: Option<bool>,
    realtime: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShutdown {
    grace_secs: Option<u64>,
}

/// Command-line overrides (`ivr serve --sip ... --http ...`).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub sip: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
    pub db: Option<String>,
    pub dialplan: Option<PathBuf>,
    pub prompts: Option<PathBuf>,
    pub rtp_ports: Option<String>,
}

pub const DEFAULT_SIP: &str = "0.0.0.0:5060";
pub const DEFAULT_HTTP: &str = "127.0.0.1:8012";
pub const DEFAULT_DB: &str = "sqlite://data/ivr.db";
pub const DEFAULT_DIALPLAN: &str = "dialplans/012.toml";
pub const DEFAULT_RTP_PORTS: &str = "20000-29999";

impl ServerConfig {
    /// Reads the file (when given) and applies the flags on top.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<ServerConfig, ConfigError> {
        let file = match path {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                parse_file(path, &text)?
            }
        };
        Self::merge(file, overrides)
    }

    fn merge(file: FileConfig, o: &Overrides) -> Result<ServerConfig, ConfigError> {
        let parse_addr = |s: &str| s.parse::<SocketAddr>().expect("built-in default address parses");
        let rtp_ports = parse_rtp_ports(
            o.rtp_ports
                .as_deref()
                .or(file.media.rtp_ports.as_deref())
                .unwrap_or(DEFAULT_RTP_PORTS),
        )?;
        let secs = |v: Option<u64>, default: u64, key: &'static str| -> Result<Duration, ConfigError> {
            let v = v.unwrap_or(default);
            if v == 0 {
                return Err(ConfigError::Invalid { key, reason: "must be at least 1 second".into() });
            }
            Ok(Duration::from_secs(v))
        };
        check_ice_servers(&file.webrtc.ice_servers)
            .map_err(|e| ConfigError::Invalid { key: "webrtc.ice_servers", reason: e.to_string() })?;
        let disposition_codes =
            file.console.disposition_codes.unwrap_or_else(|| ConsoleConfig::default().disposition_codes);
        check_disposition_codes(&disposition_codes)
            .map_err(|reason| ConfigError::Invalid { key: "console.disposition_codes", reason })?;
        Ok(ServerConfig {
            sip: SipConfig {
                listen: o.sip.or(file.sip.listen).unwrap_or_else(|| parse_addr(DEFAULT_SIP)),
                advertised_ip: file.sip.advertised_ip,
                user_agent: file
                    .sip
                    .user_agent
                    .unwrap_or_else(|| format!("012-ivr/{}", env!("CARGO_PKG_VERSION"))),
            },
            http_listen: o.http.or(file.http.listen).unwrap_or_else(|| parse_addr(DEFAULT_HTTP)),
            db_url: o.db.clone().or(file.db.url).unwrap_or_else(|| DEFAULT_DB.to_owned()),
            dialplan: o.dialplan.clone().or(file.dialplan).unwrap_or_else(|| PathBuf::from(DEFAULT_DIALPLAN)),
            prompts_dir: o
                .prompts
                .clone()
                .or(file.prompts.dir)
                .unwrap_or_else(|| PathBuf::from("prompts")),
            media: MediaConfig {
                rtp_ports,
                media_timeout: secs(file.media.media_timeout_secs, 30, "media.media_timeout_secs")?,
                inband_dtmf: file.media.inband_dtmf.unwrap_or(true),
                realtime: file.media.realtime.unwrap_or(true),
            },
            shutdown_grace: secs(file.shutdown.grace_secs, 30, "shutdown.grace_secs")?,
            data_dir: file.data.dir.unwrap_or_else(|| PathBuf::from("data")),
            acd: AcdFiles {
                queues: file.acd.queues.unwrap_or_else(|| PathBuf::from("dialplans/queues.toml")),
                agents: file.acd.agents.unwrap_or_else(|| PathBuf::from("dialplans/agents.toml")),
                allow_demo_passwords: file.acd.allow_demo_passwords.unwrap_or(true),
            },
            registrar_realm: file.registrar.realm.unwrap_or_else(|| "012".to_owned()),
            callback_retention: Duration::from_secs(
                24 * 3600 * file.privacy.callback_retention_days.filter(|d| *d > 0).unwrap_or(30),
            ),
            ice_servers: file.webrtc.ice_servers,
            voice_processing: file.webrtc.voice_processing.unwrap_or(true),
            disposition_codes,
        })
    }
}

/// At least one code, each a short snake_case name
/// ([`ivr_store::wrapup::is_valid_code`]), none twice.
pub fn check_disposition_codes(codes: &[String]) -> Result<(), String> {
    if codes.is_empty() {
        return Err("give at least one code".into());
    }
    for (i, code) in codes.iter().enumerate() {
        if !is_valid_code(code) {
            return Err(format!("{code:?} is not a code: 1 to {MAX_CODE_LEN} lowercase letters, digits or '_'"));
        }
        if codes[..i].contains(code) {
            return Err(format!("{code:?} is listed twice"));
        }
    }
    Ok(())
}

fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|span| line_and_column(text, span.start))
            .unwrap_or((1, 1));
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().to_owned(),
        }
    })
}

/// 1-based line and column of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// `FIRST-LAST`, both even-aligned to RTP/RTCP pairs, at least one pair.
pub fn parse_rtp_ports(value: &str) -> Result<RtpPortRange, ConfigError> {
    let err = |reason| ConfigError::RtpPorts { value: value.to_owned(), reason };
    let (a, b) = value.split_once('-').ok_or_else(|| err("expected FIRST-LAST"))?;
    let first: u16 = a.trim().parse().map_err(|_| err("FIRST is not a port number"))?;
    let last: u16 = b.trim().parse().map_err(|_| err("LAST is not a port number"))?;
    if first < 1024 {
        return Err(err("FIRST must be 1024 or above"));
    }
    if last <= first {
        return Err(err("LAST must be above FIRST (each call takes an RTP and an RTCP port)"));
    }
    Ok(RtpPortRange { first, last })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = ServerConfig::load(None, &Overrides::default()).unwrap();
        assert_eq!(c.sip.listen, DEFAULT_SIP.parse().unwrap());
        assert_eq!(c.http_listen, DEFAULT_HTTP.parse().unwrap());
        assert_eq!(c.db_url, DEFAULT_DB);
        assert_eq!(c.media.rtp_ports, RtpPortRange { first: 20000, last: 29999 });
        assert_eq!(c.dialplan, PathBuf::from(DEFAULT_DIALPLAN));
    }

    #[test]
    fn flags_override_the_file() {
        let file = parse_file(Path::new("x.toml"), "[sip]\nlisten = \"127.0.0.1:5070\"\n[shutdown]\ngrace_secs = 4\n").unwrap();
        let o = Overrides { sip: Some("127.0.0.1:6000".parse().unwrap()), ..Default::default() };
        let c = ServerConfig::merge(file, &o).unwrap();
        assert_eq!(c.sip.listen, "127.0.0.1:6000".parse().unwrap());
        assert_eq!(c.shutdown_grace, Duration::from_secs(4));
    }

    #[test]
    fn a_typo_is_reported_with_line_and_column() {
        let err = parse_file(Path::new("ivr.toml"), "[sip]\nlisten = \"127.0.0.1:5060\"\nlisen = 3\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("ivr.toml:3:1: "), "{text}");
        assert!(text.contains("lisen"), "{text}");
    }

    #[test]
    fn a_bad_address_is_reported_with_its_position() {
        let err = parse_file(Path::new("a.toml"), "[http]\nlisten = \"nowhere\"\n").unwrap_err();
        assert!(err.to_string().starts_with("a.toml:2:10: "), "{err}");
    }

    #[test]
    fn rtp_port_ranges_are_checked() {
        assert_eq!(parse_rtp_ports("30000-30099").unwrap(), RtpPortRange { first: 30000, last: 30099 });
        assert!(parse_rtp_ports("30000").is_err());
        assert!(parse_rtp_ports("30000-30000").is_err());
        assert!(parse_rtp_ports("80-90").is_err());
        assert!(parse_rtp_ports("a-b").is_err());
    }

    #[test]
    fn ice_servers_reach_the_config_and_none_is_the_default() {
        assert!(ServerConfig::load(None, &Overrides::default()).unwrap().ice_servers.is_empty());
        let text = "[webrtc]\nice_servers = [\n  { urls = [\"stun:stun.example.cat:3478\"] },\n  \
                    { urls = [\"turn:turn.example.cat?transport=tcp\"], username = \"u\", credential = \"p\" },\n]\n";
        let c = ServerConfig::merge(parse_file(Path::new("x.toml"), text).unwrap(), &Overrides::default()).unwrap();
        assert_eq!(c.ice_servers.len(), 2);
        assert_eq!(c.ice_servers[1].urls, ["turn:turn.example.cat?transport=tcp"]);
        assert_eq!(c.ice_servers[1].credential.as_deref(), Some("p"));
    }

    #[test]
    fn the_browsers_voice_processing_is_on_unless_turned_off() {
        assert!(ServerConfig::load(None, &Overrides::default()).unwrap().voice_processing);
        let file = parse_file(Path::new("x.toml"), "[webrtc]\nvoice_processing = false\n").unwrap();
        assert!(!ServerConfig::merge(file, &Overrides::default()).unwrap().voice_processing);
        assert!(parse_file(Path::new("x.toml"), "[webrtc]\nvoice_processing = \"no\"\n").is_err(), "a boolean");
    }

    #[test]
    fn a_bad_ice_server_url_is_refused_naming_the_key() {
        let file = parse_file(Path::new("x.toml"), "[webrtc]\nice_servers = [{ urls = [\"https://stun.example.cat\"] }]\n").unwrap();
        let err = ServerConfig::merge(file, &Overrides::default()).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { key: "webrtc.ice_servers", .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.starts_with("invalid value for webrtc.ice_servers: "), "{text}");
        assert!(text.contains("https://stun.example.cat"), "{text}");
        // TURN without credentials is refused too; an unknown key is a syntax error with its position.
        let file = parse_file(Path::new("x.toml"), "[webrtc]\nice_servers = [{ urls = [\"turns:t.example.cat\"] }]\n").unwrap();
        assert!(ServerConfig::merge(file, &Overrides::default()).unwrap_err().to_string().contains("credential"));
        let err = parse_file(Path::new("x.toml"), "[webrtc]\nice_servers = [{ url = \"stun:a\" }]\n").unwrap_err();
        assert!(err.to_string().starts_with("x.toml:2:"), "{err}");
    }

    #[test]
    fn disposition_codes_default_to_the_console_s_list_and_a_configured_list_replaces_it() {
        let c = ServerConfig::load(None, &Overrides::default()).unwrap();
        assert_eq!(c.disposition_codes, ConsoleConfig::default().disposition_codes);
        let file = parse_file(Path::new("x.toml"), "[console]\ndisposition_codes = [\"resolved\", \"appointment_booked\"]\n").unwrap();
        let c = ServerConfig::merge(file, &Overrides::default()).unwrap();
        assert_eq!(c.disposition_codes, ["resolved", "appointment_booked"]);
    }

    fn disposition_error(list: &str) -> String {
        let file = parse_file(Path::new("x.toml"), &format!("[console]\ndisposition_codes = {list}\n")).unwrap();
        let err = ServerConfig::merge(file, &Overrides::default()).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { key: "console.disposition_codes", .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.starts_with("invalid value for console.disposition_codes: "), "{text}");
        text
    }

    #[test]
    fn a_bad_disposition_code_is_refused_naming_the_key_and_the_code() {
        assert!(disposition_error("[\"resolved\", \"Call Back\"]").contains("\"Call Back\" is not a code"));
        assert!(disposition_error("[\"resolved\", \"\"]").contains("\"\" is not a code"));
    }

    #[test]
    fn a_duplicate_or_an_empty_disposition_list_is_refused() {
        assert!(disposition_error("[\"resolved\", \"other\", \"resolved\"]").contains("\"resolved\" is listed twice"));
        assert!(disposition_error("[]").contains("at least one code"));
    }

    #[test]
    fn zero_durations_are_refused() {
        let file = parse_file(Path::new("x.toml"), "[media]\nmedia_timeout_secs = 0\n").unwrap();
        assert!(matches!(
            ServerConfig::merge(file, &Overrides::default()),
            Err(ConfigError::Invalid { key: "media.media_timeout_secs", .. })
        ));
    }
}
