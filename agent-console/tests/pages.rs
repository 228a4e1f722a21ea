//! The console's pages as a browser gets them: every page and file is
//! served with its type and the security headers, each page loads in under
//! 300 KB, the markup is operable with a keyboard and a screen reader
//! (labels, names, landmarks, test ids), and every word the pages show
//! exists in Catalan, Spanish and English.
//!
//! The router is tested with `tower::ServiceExt::oneshot`, without a
//! server; the pages' markup, scripts and translation table are read from
//! the embedded files themselves.

use agent_console::assets;

use std::collections::{BTreeMap, BTreeSet};

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use tower::ServiceExt;

#[path = "pages/html.rs"]
mod html;
use html::{Element, parse};

/// The target from issue 6: a page loads in under 300 KB.
const PAGE_BUDGET: usize = 300 * 1024;
const LANGS: [&str; 3] = ["ca", "es", "en"];

struct Got {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

async fn get_with(path: &str, headers: &[(header::HeaderName, &str)]) -> Got {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let response = assets::routes::<()>()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), 4 << 20).await.expect("body").to_vec();
    Got { status, headers, body }
}

async fn get(path: &str) -> Got {
    get_with(path, &[]).await
}

/// A page as served (parts included), or a static file's text.
fn text(name: &str) -> &'static str {
    if let Some(page) = assets::page(name) {
        return &page.html;
    }
    let asset = assets::asset(name).unwrap_or_else(|| panic!("{name} is embedded"));
    std::str::from_utf8(asset.body).unwrap_or_else(|_| panic!("{name} is UTF-8"))
}

fn pages() -> impl Iterator<Item = (&'static str, &'static str)> {
    assets::PAGES.into_iter().map(|(path, name, _)| (path, name))
}

fn scripts() -> impl Iterator<Item = &'static assets::Asset> {
    assets::ASSETS.iter().filter(|a| a.name.ends_with(".js"))
}

fn i18n() -> BTreeMap<String, BTreeMap<String, String>> {
    serde_json::from_str(text("i18n.json")).expect("i18n.json is a map of language to key to text")
}

// Serving -----------------------------------------------------------------------

#[tokio::test]
async fn every_page_is_html_with_the_security_headers() {
    for (path, _) in pages() {
        let got = get(path).await;
        assert_eq!(got.status, StatusCode::OK, "{path}");
        assert_eq!(got.headers[header::CONTENT_TYPE], "text/html; charset=utf-8", "{path}");
        let csp = got.headers[header::CONTENT_SECURITY_POLICY].to_str().expect("ASCII");
        assert_eq!(csp, assets::CONTENT_SECURITY_POLICY, "{path}");
        assert_eq!(got.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(got.headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
        assert_eq!(got.headers["permissions-policy"], assets::PERMISSIONS_POLICY, "{path}");
        assert_eq!(got.headers[header::CACHE_CONTROL], "no-cache", "{path}");
        assert!(got.headers.contains_key(header::ETAG), "{path}");
        assert!(got.body.starts_with(b"<!doctype html>"), "{path}");
    }
}

#[test]
fn the_policy_allows_no_inline_code_and_nothing_from_elsewhere() {
    let csp = assets::CONTENT_SECURITY_POLICY;
    for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"] {
        assert!(csp.contains(directive), "missing {directive:?} in {csp}");
    }
    for loose in ["unsafe-inline", "unsafe-eval", "*", "http:", "https:"] {
        assert!(!csp.contains(loose), "{loose:?} in {csp}");
    }
    assert!(assets::PERMISSIONS_POLICY.contains("microphone=(self)"));
}

#[tokio::test]
async fn every_static_file_is_served_with_its_type() {
    let expected = [
        (".js", "text/javascript; charset=utf-8"),
        (".css", "text/css; charset=utf-8"),
        (".json", "application/json; charset=utf-8"),
        (".svg", "image/svg+xml"),
    ];
    for asset in assets::ASSETS {
        let got = get(&format!("/static/{}", asset.name)).await;
        assert_eq!(got.status, StatusCode::OK, "{}", asset.name);
        let (_, content_type) = expected.iter().find(|(ext, _)| asset.name.ends_with(ext)).expect("a known kind");
        assert_eq!(got.headers[header::CONTENT_TYPE], *content_type, "{}", asset.name);
        assert_eq!(got.headers[header::CONTENT_SECURITY_POLICY], assets::CONTENT_SECURITY_POLICY);
        assert_eq!(got.body, asset.body, "{}", asset.name);
    }
}

#[tokio::test]
async fn unknown_files_and_pages_under_static_are_404() {
    for path in ["/static/nope.js", "/static/agent.html", "/static/_header.html", "/static/..%2Fsrc%2Flib.rs", "/static/", "/agent/x", "/nope"] {
        let got = get(path).await;
        assert_eq!(got.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn pages_are_served_with_their_shared_parts_included() {
    for (path, page) in pages() {
        let got = get(path).await;
        let html = String::from_utf8(got.body).expect("UTF-8");
        assert!(!html.contains("<!-- include"), "{page}: an include was left");
        assert_eq!(html, text(page));
    }
    for page in ["agent.html", "supervisor.html", "reports.html", "admin.html"] {
        assert!(text(page).contains("<header class=\"top\">"), "{page} has the header");
    }
    for page in ["agent.html", "supervisor.html"] {
        assert!(text(page).contains("data-testid=\"softphone\""), "{page} has the softphone");
    }
}

#[tokio::test]
async fn a_file_the_browser_has_is_not_sent_again() {
    let first = get("/static/console.js").await;
    let etag = first.headers[header::ETAG].to_str().expect("ASCII").to_owned();
    let again = get_with("/static/console.js", &[(header::IF_NONE_MATCH, &etag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    let other = get_with("/static/console.js", &[(header::IF_NONE_MATCH, "\"0000000000000000\"")]).await;
    assert_eq!(other.status, StatusCode::OK);
    let page = get("/agent").await;
    assert_ne!(page.headers[header::ETAG], first.headers[header::ETAG], "each file has its own tag");
}

#[tokio::test]
async fn head_requests_are_answered_without_a_body() {
    let request = Request::head("/supervisor").body(Body::empty()).expect("request");
    let response = assets::routes::<()>().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let body = to_bytes(response.into_body(), 1 << 20).await.expect("body");
    assert!(body.is_empty());
}

// What a page loads ---------------------------------------------------------------

/// `/static/x.js` imported by a module script.
fn imports(script: &str) -> Vec<String> {
    script
        .lines()
        .filter_map(|line| line.split_once(" from '/static/").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once('\'').map(|(name, _)| name.to_owned()))
        .collect()
}

/// Every file `page` makes the browser fetch: its scripts with their
/// imports, its styles and images, and the translations.
fn page_files(page: &str) -> BTreeSet<String> {
    let doc = parse(text(page));
    let mut files = BTreeSet::new();
    for e in &doc {
        let url = match e.name.as_str() {
            "script" => e.attr("src"),
            "link" => e.attr("href"),
            "img" | "audio" => e.attr("src"),
            _ => None,
        };
        if let Some(url) = url {
            let name = url.strip_prefix("/static/").unwrap_or_else(|| panic!("{page} loads {url} from /static/"));
            files.insert(name.to_owned());
        }
    }
    let mut todo: Vec<String> = files.iter().filter(|f| f.ends_with(".js")).cloned().collect();
    while let Some(script) = todo.pop() {
        for import in imports(text(&script)) {
            if files.insert(import.clone()) {
                todo.push(import);
            }
        }
    }
    // console.js fetches the translation table at start.
    if text("console.js").contains("fetch('/static/i18n.json'") && files.contains("console.js") {
        files.insert("i18n.json".to_owned());
    }
    files
}

#[tokio::test]
async fn every_page_loads_in_under_300_kb_and_everything_it_loads_exists() {
    for (path, page) in pages() {
        let mut total = get(path).await.body.len();
        for file in page_files(page) {
            let got = get(&format!("/static/{file}")).await;
            assert_eq!(got.status, StatusCode::OK, "{page} loads /static/{file}");
            total += got.body.len();
        }
        assert!(total < PAGE_BUDGET, "{path} loads {total} bytes");
        assert!(page_files(page).contains("console.js"), "{page} uses the shared module");
    }
}

#[test]
fn no_page_has_inline_code_or_style() {
    for (_, page) in pages() {
        for e in parse(text(page)) {
            if e.name == "script" {
                assert!(e.attr("src").is_some() && e.text.trim().is_empty(), "{page}: inline <script>");
                assert_eq!(e.attr("type"), Some("module"), "{page}: scripts are modules");
            }
            assert_ne!(e.name, "style", "{page}: inline <style>");
            for (name, _) in &e.attrs {
                assert!(name != "style" && !name.starts_with("on"), "{page}: <{} {name}>", e.name);
            }
        }
    }
    for script in scripts() {
        let body = text(script.name);
        for banned in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", ".cssText", "'style'"] {
            assert!(!body.contains(banned), "{} uses {banned}", script.name);
        }
    }
}

// Keyboard and screen readers --------------------------------------------------------

fn labelled(e: &Element, label_for: &BTreeSet<String>) -> bool {
    e.attr("aria-label").is_some()
        || e.attr("aria-labelledby").is_some()
        || e.attr("data-i18n-aria").is_some()
        || e.inside.iter().any(|p| p == "label")
        || e.attr("id").is_some_and(|id| label_for.contains(id))
}

#[test]
fn every_control_has_a_name_a_screen_reader_can_say() {
    for (_, page) in pages() {
        let doc = parse(text(page));
        let label_for: BTreeSet<String> =
            doc.iter().filter(|e| e.name == "label").filter_map(|e| e.attr("for")).map(str::to_owned).collect();
        for e in &doc {
            match e.name.as_str() {
                "button" | "a" => {
                    let named = !e.text.trim().is_empty() || e.attr("aria-label").is_some() || e.attr("data-i18n").is_some();
                    assert!(named, "{page}: <{} id={:?}> has no name", e.name, e.attr("id"));
                }
                "input" | "select" | "textarea" if e.attr("type") != Some("hidden") => {
                    assert!(labelled(e, &label_for), "{page}: <{} id={:?}> has no label", e.name, e.attr("id"));
                }
                "img" => assert!(e.attr("alt").is_some(), "{page}: <img> without alt"),
                _ => {}
            }
            if e.name == "button" {
                assert!(e.attr("type").is_some(), "{page}: <button id={:?}> without a type", e.attr("id"));
            }
            assert!(e.attr("tabindex").is_none_or(|t| t == "0" || t == "-1"), "{page}: positive tabindex breaks the tab order");
        }
        for id in &label_for {
            assert!(doc.iter().any(|e| e.attr("id") == Some(id)), "{page}: <label for={id:?}> names nothing");
        }
        for e in doc.iter().filter_map(|e| e.attr("aria-describedby")) {
            for id in e.split_whitespace() {
                assert!(doc.iter().any(|x| x.attr("id") == Some(id)), "{page}: aria-describedby {id:?} names nothing");
            }
        }
    }
}

#[test]
fn every_page_has_a_language_a_title_a_main_landmark_and_a_skip_link() {
    for (_, page) in pages() {
        let doc = parse(text(page));
        assert!(doc.iter().any(|e| e.name == "html" && e.attr("lang") == Some("ca")), "{page}: Catalan by default");
        assert!(doc.iter().any(|e| e.name == "title" && !e.text.trim().is_empty()), "{page}: <title>");
        assert!(doc.iter().any(|e| e.name == "main" && e.attr("id") == Some("main")), "{page}: <main id=main>");
        assert!(doc.iter().any(|e| e.name == "a" && e.attr("href") == Some("#main")), "{page}: skip link");
        assert!(doc.iter().any(|e| e.name == "h1"), "{page}: <h1>");
        let ids: Vec<&str> = doc.iter().filter_map(|e| e.attr("id")).collect();
        let unique: BTreeSet<&&str> = ids.iter().collect();
        assert_eq!(ids.len(), unique.len(), "{page}: ids are unique");
        let test_ids: Vec<&str> = doc.iter().filter_map(|e| e.attr("data-testid")).collect();
        let unique: BTreeSet<&&str> = test_ids.iter().collect();
        assert_eq!(test_ids.len(), unique.len(), "{page}: test ids are unique");
    }
}

#[test]
fn the_end_to_end_test_finds_what_it_needs_by_test_id() {
    let needs: [(&str, &[&str]); 5] = [
        ("index.html", &["login-form", "login-user", "login-password", "login-submit", "login-error", "lang-select"]),
        (
            "agent.html",
            &[
                "status-available", "status-break", "status-logout", "break-reason", "my-status", "my-state", "offer-panel",
                "offer-facts", "answer", "reject", "call-panel", "mute", "hold", "transfer", "survey", "hangup",
                "wrapup-panel", "wrapup-countdown", "disposition", "notes", "wrapup-done", "softphone", "softphone-start",
                "phone-mic", "phone-conn", "phone-media", "remote-audio", "callers-table", "figures", "feed-state", "signout",
            ],
        ),
        (
            "supervisor.html",
            &[
                "wallboard", "tile-in_ivr", "tile-waiting", "tile-longest_wait", "tile-service_level", "tile-abandon_rate",
                "tile-asa", "tile-aht", "tile-satisfaction", "tile-agents_available", "tile-agents_on_call", "callers-table",
                "wallboard-queues", "wallboard-agents", "dialplan", "dialplan-version", "dialplan-reload", "dialplan-status",
            ],
        ),
        ("reports.html", &["report-form", "report-from", "report-to", "report-by", "report-run", "report-csv", "report-table", "chart-volume", "chart-service-level", "chart-satisfaction", "chart-distribution"]),
        ("admin.html", &["admin-users", "user-form", "user-login", "user-save", "admin-acd", "queues-toml", "agents-toml", "acd-save", "admin-calendars"]),
    ];
    for (page, ids) in needs {
        let doc = parse(text(page));
        for id in ids {
            assert!(doc.iter().any(|e| e.attr("data-testid") == Some(id)), "{page}: data-testid={id:?}");
        }
    }
}

#[test]
fn offers_and_status_changes_are_announced_and_shortcuts_are_documented() {
    let agent = parse(text("agent.html"));
    let live = |id: &str| agent.iter().find(|e| e.attr("id") == Some(id)).and_then(|e| e.attr("aria-live")).map(str::to_owned);
    assert_eq!(live("offer-live").as_deref(), Some("assertive"));
    assert_eq!(live("status-live").as_deref(), Some("polite"));
    let script = text("agent.js");
    for (code, button) in [("KeyA", "answer"), ("KeyH", "hangup"), ("KeyR", "reject"), ("KeyM", "mute"), ("KeyD", "wrapup-done")] {
        assert!(script.contains(&format!("shortcut('{code}'")), "agent.js handles Alt+Shift+{code}");
        let letter = &code[3..];
        let shown = agent.iter().find(|e| e.attr("data-testid") == Some(button)).and_then(|e| e.attr("aria-keyshortcuts"));
        assert_eq!(shown, Some(format!("Alt+Shift+{letter}").as_str()), "{button} declares its shortcut");
        let listed = agent.iter().any(|e| e.name == "dt" && e.text.replace(' ', "").ends_with(&format!("+{letter}")));
        assert!(listed, "the shortcut list shows Alt+Shift+{letter}");
    }
    let supervisor = parse(text("supervisor.html"));
    assert!(supervisor.iter().any(|e| e.attr("aria-live") == Some("polite")), "agents' status changes are announced");
}

#[test]
fn wallboard_levels_have_a_word_and_a_shape_besides_the_colour() {
    let css = text("console.css");
    for level in ["ok", "warn", "bad"] {
        assert!(css.contains(&format!(".level.{level}::before {{ content: ")), "a shape for {level}");
        assert!(i18n()["ca"].contains_key(&format!("level.{level}")), "a word for {level}");
    }
    assert!(css.contains(":focus-visible"), "focus is visible");
}

// Translations ----------------------------------------------------------------------

/// The codes the API sends that the pages put into words (`word(prefix, code)`).
const CODES: [(&str, &[&str]); 11] = [
    ("status", &["logged_out", "available", "on_break"]),
    ("state", &["idle", "resting", "offered", "reserved", "on_call", "wrap_up"]),
    ("break", &["rest", "meal", "training", "meeting", "admin", "missed_offers"]),
    ("role", &["agent", "supervisor", "admin"]),
    ("lang", &["ca", "es", "en", "oc"]),
    ("topic", &["procedures", "health", "work", "education", "transport", "other"]),
    ("by", &["hour", "day", "week", "queue", "topic", "language", "agent"]),
    ("strategy", &["longest_idle", "least_talk_time", "round_robin", "ring_all"]),
    ("feed", &["connecting", "connected", "reconnecting"]),
    ("level", &["ok", "warn", "bad"]),
    ("monitor", &["listen", "whisper", "barge", "listen_for", "whisper_for", "barge_for"]),
];

/// The softphone's states (`t(\`phone.mic.${state}\`)` and the like).
const PHONE: [(&str, &[&str]); 4] = [
    ("phone.mic", &["off", "asking", "granted", "denied", "unavailable"]),
    ("phone.conn", &["off", "connecting", "connected", "reconnecting"]),
    ("phone.media", &["idle", "negotiating", "connected", "failed", "disconnected"]),
    (
        "phone.notice",
        &["autoplay", "media_failed", "engine_error", "dropped_in_call", "reconnecting", "unsupported", "denied", "no_device", "no_agent"],
    ),
];

/// Every `'namespace.key'` string in a script: the keys it passes to `t`.
fn script_keys(script: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for piece in script.split('\'').skip(1).step_by(2) {
        let mut parts = piece.split('.');
        let is_key = parts.clone().count() >= 2
            && parts.all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        if is_key {
            keys.insert(piece.to_owned());
        }
    }
    keys
}

#[test]
fn the_three_languages_have_the_same_keys_and_no_empty_text() {
    let table = i18n();
    assert_eq!(table.keys().map(String::as_str).collect::<Vec<_>>(), vec!["ca", "en", "es"]);
    let ca: BTreeSet<&String> = table["ca"].keys().collect();
    for lang in LANGS {
        let keys: BTreeSet<&String> = table[lang].keys().collect();
        assert_eq!(keys, ca, "{lang} has the same keys as ca");
        for (key, text) in &table[lang] {
            assert!(!text.trim().is_empty(), "{lang}.{key} is empty");
            let holes = |s: &str| s.split('{').skip(1).filter_map(|r| r.split_once('}')).map(|(h, _)| h.to_owned()).collect::<BTreeSet<_>>();
            assert_eq!(holes(text), holes(&table["ca"][key]), "{lang}.{key} has the same {{placeholders}}");
        }
    }
}

#[test]
fn every_word_on_the_pages_is_in_the_three_languages() {
    let table = i18n();
    let has = |key: &str| LANGS.iter().all(|lang| table[*lang].contains_key(key));
    for (_, page) in pages() {
        for e in parse(text(page)) {
            for attr in ["data-i18n", "data-i18n-aria", "data-i18n-title", "data-i18n-placeholder"] {
                if let Some(key) = e.attr(attr) {
                    assert!(has(key), "{page}: {attr}={key:?} is not in every language");
                }
            }
            if let Some(key) = e.attr("data-i18n") {
                assert!(!e.has_children, "{page}: data-i18n={key:?} would wipe its child elements");
                assert_eq!(e.text.trim(), table["ca"][key], "{page}: the page's Catalan text for {key:?}");
            } else if e.is_leaf_text_element() && !e.text.trim().is_empty() {
                // Words shown with no key would stay Catalan: only symbols,
                // numbers, language names and key caps may.
                let t = e.text.trim();
                let allowed = ["Català", "Español", "English", "Alt", "A", "R", "H", "M", "E", "D", "—", "+", "0:00"];
                assert!(allowed.contains(&t), "{page}: <{}> {t:?} has no data-i18n key", e.name);
            }
        }
    }
    for script in scripts() {
        for key in script_keys(text(script.name)) {
            assert!(has(&key), "{}: t({key:?}) is not in every language", script.name);
        }
    }
    for (prefix, codes) in CODES.iter().chain(PHONE.iter()) {
        for code in *codes {
            assert!(has(&format!("{prefix}.{code}")), "{prefix}.{code} is not in every language");
        }
    }
}

#[test]
fn script_keys_are_found_in_quotes_only() {
    let keys = script_keys("t('agent.answer'); import x from '/static/console.js'; word('lang', c); ['fig.aht', 1]");
    assert_eq!(keys.into_iter().collect::<Vec<_>>(), vec!["agent.answer", "fig.aht"]);
}
