//! The console's pages and their static files, embedded in the binary.
//!
//! Owns serving `agent-console/assets/`: the pages at `/` (login),
//! `/agent`, `/supervisor`, `/reports` and `/admin`, and every other file
//! at `/static/<name>`, each with its content type, an `ETag` computed at
//! compile time (so `If-None-Match` gets a 304), `Cache-Control: no-cache`
//! (a browser revalidates, so a new binary's files are used at once), and
//! the security headers: a strict Content-Security-Policy (no inline
//! script or style, nothing from other origins), `nosniff`, no framing, no
//! referrer, and only the microphone among the powerful features.
//!
//! Must never read a file at run time (the binary works from any
//! directory), serve anything not listed in [`ASSETS`], or need state: the
//! router is generic over the application's state so that it merges into
//! any `Router<S>`.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Scripts, styles, images, fonts and connections from this origin only
/// (`'self'` covers the same host's `ws:`/`wss:` in CSP Level 3); no
/// inline code, no plugins, no framing, forms post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; font-src 'self'; connect-src 'self'; media-src 'self' blob:; \
manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'";

/// Only the microphone (the softphone), and only for this origin.
pub const PERMISSIONS_POLICY: &str = "microphone=(self), camera=(), geolocation=(), payment=(), usb=()";

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// The file's name in `assets/`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// FNV-1a of the body, computed at compile time.
    pub hash: u64,
}

/// FNV-1a, 64 bits: a stable content hash for the `ETag`.
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../assets/", $name)),
            hash: fnv1a(include_bytes!(concat!("../assets/", $name))),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file served under `/static/`.
pub static ASSETS: &[Asset] = &[
    asset!("console.css", CSS),
    asset!("console.js", JS),
    asset!("softphone.js", JS),
    asset!("login.js", JS),
    asset!("agent.js", JS),
    asset!("supervisor.js", JS),
    asset!("reports.js", JS),
    asset!("admin.js", JS),
    asset!("i18n.json", "application/json; charset=utf-8"),
    asset!("logo.svg", "image/svg+xml"),
];

/// The pages: URL path, file name, source. A line `<!-- include NAME -->`
/// in a source is replaced by the part `NAME` (see [`PARTS`]).
pub const PAGES: [(&str, &str, &str); 5] = [
    ("/", "index.html", include_str!("../assets/index.html")),
    ("/agent", "agent.html", include_str!("../assets/agent.html")),
    ("/supervisor", "supervisor.html", include_str!("../assets/supervisor.html")),
    ("/reports", "reports.html", include_str!("../assets/reports.html")),
    ("/admin", "admin.html", include_str!("../assets/admin.html")),
];

/// Markup shared by several pages: the header, the callers waiting, the
/// softphone panel.
pub const PARTS: [(&str, &str); 3] = [
    ("_header.html", include_str!("../assets/_header.html")),
    ("_callers.html", include_str!("../assets/_callers.html")),
    ("_softphone.html", include_str!("../assets/_softphone.html")),
];

/// A page as served: its parts included.
#[derive(Debug)]
pub struct Page {
    pub path: &'static str,
    pub name: &'static str,
    pub html: String,
    pub hash: u64,
}

/// `source` with every `<!-- include NAME -->` line replaced by that part
/// (an unknown name is left as it is, and the page tests fail on it).
pub fn assemble(source: &str) -> String {
    let mut html = String::with_capacity(source.len() * 2);
    for line in source.split_inclusive('\n') {
        let part = line
            .trim()
            .strip_prefix("<!-- include ")
            .and_then(|rest| rest.strip_suffix(" -->"))
            .and_then(|name| PARTS.iter().find(|(n, _)| *n == name));
        html.push_str(part.map_or(line, |(_, body)| body));
    }
    html
}

static BUILT: LazyLock<Vec<Page>> = LazyLock::new(|| {
    PAGES
        .iter()
        .map(|(path, name, source)| {
            let html = assemble(source);
            Page { path, name, hash: fnv1a(html.as_bytes()), html }
        })
        .collect()
});

/// The served page `name` (`agent.html`).
pub fn page(name: &str) -> Option<&'static Page> {
    BUILT.iter().find(|p| p.name == name)
}

/// The static file `name`, if there is one.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The pages and `/static/{name}`, for any application state: merge it
/// into the console's router (`.merge(assets::routes())`).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new().route("/static/{name}", get(static_file));
    for built in BUILT.iter() {
        router = router.route(
            built.path,
            get(move |headers: HeaderMap| async move { serve(HTML, built.html.as_bytes(), built.hash, &headers) }),
        );
    }
    router
}

async fn static_file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match asset(&name) {
        Some(file) => serve(file.content_type, file.body, file.hash, &headers),
        None => (StatusCode::NOT_FOUND, with_security_headers(HeaderMap::new()), "not found\n").into_response(),
    }
}

fn with_security_headers(mut headers: HeaderMap) -> HeaderMap {
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::HeaderName::from_static("permissions-policy"), PERMISSIONS_POLICY),
        (header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
}

fn serve(content_type: &'static str, body: &'static [u8], hash: u64, request: &HeaderMap) -> Response {
    let etag = format!("\"{hash:016x}\"");
    let mut headers = with_security_headers(HeaderMap::new());
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("invariant: hex digits and quotes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let matches = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        });
    if matches {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    (StatusCode::OK, headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_is_served_as_javascript() {
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            assert_eq!(a.content_type, JS, "{}", a.name);
        }
    }

    #[test]
    fn an_include_line_is_replaced_by_its_part_and_others_are_kept() {
        let html = assemble("<body>\n  <!-- include _header.html -->\n<!-- include nope -->\n</body>");
        assert!(html.starts_with("<body>\n<a class=\"skip\""), "{html}");
        assert!(html.ends_with("</header>\n<!-- include nope -->\n</body>"), "{html}");
    }

    #[test]
    fn the_hash_is_fnv1a() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
