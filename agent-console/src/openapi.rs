//! `GET /api/openapi.json`: the OpenAPI 3.1 description of every console
//! endpoint, written by hand from [`ENDPOINTS`] (one row per route; a test
//! checks that the router answers every row and that the description names
//! every route).
//!
//! Owns the description only. Must never drift from the router: add a row
//! here with every new route.

use axum::Json;
use serde_json::{Map, Value, json};

/// (method, path, minimum role or "public", summary, request schema, response schema)
type Endpoint = (&'static str, &'static str, &'static str, &'static str, Option<&'static str>, &'static str);

pub const ENDPOINTS: &[Endpoint] = &[
    ("get", "/api/openapi.json", "public", "This description", None, "Object"),
    ("post", "/api/login", "public", "Sign in: sets the session cookie, returns the user and CSRF token. Rate-limited per client and per login (429 + Retry-After).", Some("LoginRequest"), "Me"),
    ("post", "/api/logout", "agent", "Sign out: ends the session, clears the cookie", None, "Ok"),
    ("get", "/api/me", "agent", "The signed-in user and the CSRF token", None, "Me"),
    ("post", "/api/me/password", "agent", "Change one's own password (other sessions end)", Some("PasswordChange"), "Ok"),
    ("get", "/api/live", "agent", "WebSocket: live frames (agent: own state; supervisor/admin: wallboard) on every change", None, "LiveFrame"),
    ("get", "/api/softphone", "agent", "WebSocket: WebRTC signalling between the agent's browser and the engine (query role=supervisor: a supervisor's own session, for monitoring)", None, "SoftphoneMessage"),
    ("get", "/api/softphone/config", "agent", "The browser softphone's STUN/TURN servers (webrtc.ice_servers) and microphone processing (webrtc.voice_processing)", None, "SoftphoneConfig"),
    ("get", "/api/agent/state", "agent", "The agent's status, state, offer and call with the caller's context, queue summary", None, "AgentSelf"),
    ("post", "/api/agent/status", "agent", "Log in, become available, take a break (with a reason), log out", Some("StatusRequest"), "AgentSelf"),
    ("post", "/api/agent/wrap-up", "agent", "End wrap-up now, with a disposition code and notes", Some("WrapUpRequest"), "AgentSelf"),
    ("get", "/api/agent/disposition-codes", "agent", "The disposition codes the wrap-up form offers (console.disposition_codes), in order", None, "DispositionCodes"),
    ("post", "/api/agent/call", "agent", "Answer or reject the offer; hang up, hold/resume, mute/unmute, send to the survey", Some("CallRequest"), "AgentSelf"),
    ("post", "/api/agent/transfer", "agent", "Blind transfer of the agent's call to a queue or an agent", Some("TransferRequest"), "AgentSelf"),
    ("get", "/api/agent/today", "agent", "The agent's own figures since local midnight", None, "Figures"),
    ("get", "/api/queue", "agent", "Callers waiting in every queue: wait, language, topic, callback", None, "QueueViews"),
    ("get", "/api/supervisor/wallboard", "supervisor", "Queues, agents with time in state, calls with context, today's figures", None, "Wallboard"),
    ("post", "/api/supervisor/agents/{login}/status", "supervisor", "Change any agent's status", Some("StatusRequest"), "AgentView"),
    ("post", "/api/supervisor/monitor", "supervisor", "Listen to, whisper to or barge into an agent's call (audio to the supervisor's softphone); again to change the mode or the call", Some("MonitorRequest"), "Ok"),
    ("delete", "/api/supervisor/monitor", "supervisor", "Stop monitoring (409 when not monitoring); the call goes on", None, "Ok"),
    ("get", "/api/reports", "supervisor", "Report by hour/day/week/queue/topic/language/agent (query: from, to, by, question)", None, "Report"),
    ("get", "/api/reports/csv", "supervisor", "The same report as a CSV download", None, "Csv"),
    ("get", "/api/reports/wrap-ups", "supervisor", "Wrap-ups by disposition code, with their total wrap-up time (query: from, to, format=json|csv)", None, "WrapUpReport"),
    ("get", "/api/dialplan", "supervisor", "The dialplan in force, its version and reload status", None, "DialplanInfo"),
    ("post", "/api/dialplan/reload", "supervisor", "Reload the dialplan now (a refused version keeps the old one: 422 with diagnostics)", None, "DialplanInfo"),
    ("get", "/api/admin/acd", "admin", "The queue and agent files, and what they define", None, "AcdView"),
    ("put", "/api/admin/acd", "admin", "Replace both files: checked like `ivr check` (422 with file:line:column), applied without restart", Some("AcdWrite"), "AcdView"),
    ("get", "/api/admin/calendars", "admin", "The holiday and opening-hours calendar files", None, "CalendarFiles"),
    ("put", "/api/admin/calendars/{name}", "admin", "Replace one calendar file: checked with the calendar parser, applied without restart", Some("CalendarWrite"), "CalendarFile"),
    ("get", "/api/admin/users", "admin", "Console users (never their password hash)", None, "UserViews"),
    ("post", "/api/admin/users", "admin", "Add a user (password hashed with Argon2id)", Some("NewUser"), "UserView"),
    ("patch", "/api/admin/users/{login}", "admin", "Change a user: name, role, agent login, disabled, password", Some("UserPatch"), "UserView"),
    ("delete", "/api/admin/users/{login}", "admin", "Remove a user (their sessions end)", None, "Ok"),
];

fn string() -> Value {
    json!({ "type": "string" })
}
fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}
fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}
fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties, "additionalProperties": false })
}
fn array_of(name: &str) -> Value {
    json!({ "type": "array", "items": reference(name) })
}

fn schemas() -> Value {
    let status_enum = json!(["login", "available", "break", "logout"]);
    json!({
        "Error": object(&["error", "reason"], json!({ "error": string(), "reason": string() })),
        "Ok": object(&["ok"], json!({ "ok": { "const": true } })),
        "Object": { "type": "object" },
        "Csv": { "type": "string", "contentMediaType": "text/csv" },
        "IceServer": object(&["urls"], json!({
            "urls": { "type": "array", "items": string() }, "username": string(), "credential": string()
        })),
        "SoftphoneConfig": object(&["ice_servers", "voice_processing"], json!({ "ice_servers": array_of("IceServer"), "voice_processing": { "type": "boolean" } })),
        "LoginRequest": object(&["login", "password"], json!({ "login": string(), "password": string() })),
        "PasswordChange": object(&["current", "new"], json!({ "current": string(), "new": { "type": "string", "minLength": 10 } })),
        "Role": { "enum": ["agent", "supervisor", "admin"] },
        "Me": object(&["login", "display_name", "role", "csrf_token"], json!({
            "login": string(), "display_name": string(), "role": reference("Role"),
            "agent_login": nullable("string"), "csrf_token": string()
        })),
        "StatusRequest": {
            "type": "object", "required": ["status"],
            "properties": { "status": { "enum": status_enum }, "reason": { "type": "string", "maxLength": 64, "description": "required for break" } },
            "additionalProperties": false
        },
        "WrapUpRequest": object(&[], json!({ "call": nullable("integer"), "disposition": nullable("string"), "notes": nullable("string") })),
        "DispositionCodes": object(&["codes"], json!({ "codes": { "type": "array", "items": string() } })),
        "DispositionCount": object(&["disposition_code", "wrap_ups", "wrap_up_ms"], json!({
            "disposition_code": string(), "wrap_ups": { "type": "integer" }, "wrap_up_ms": { "type": "integer" }
        })),
        "WrapUpReport": object(&["from", "to", "rows", "total"], json!({
            "from": { "type": "string", "format": "date" }, "to": { "type": "string", "format": "date" },
            "rows": array_of("DispositionCount"),
            "total": object(&["wrap_ups", "wrap_up_ms"], json!({ "wrap_ups": { "type": "integer" }, "wrap_up_ms": { "type": "integer" } }))
        })),
        "CallRequest": object(&["call", "action"], json!({
            "call": { "type": "integer", "minimum": 0 },
            "action": { "enum": ["answer", "reject", "hangup", "hold", "resume", "mute", "unmute", "survey"] }
        })),
        "TransferRequest": object(&["call"], json!({ "call": { "type": "integer" }, "queue": nullable("string"), "agent": nullable("string") })),
        "MonitorRequest": object(&["agent", "mode"], json!({ "agent": string(), "mode": { "enum": ["listen", "whisper", "barge"] } })),
        "AgentView": object(&[], json!({
            "login": string(), "display_name": string(),
            "status": { "enum": ["logged_out", "available", "on_break"] }, "break_reason": nullable("string"),
            "state": { "enum": ["idle", "resting", "offered", "reserved", "on_call", "wrap_up"] },
            "call": nullable("integer"), "remaining_ms": nullable("integer"),
            "time_in_status_ms": { "type": "integer" }, "time_in_state_ms": { "type": "integer" },
            "talk_time_ms": { "type": "integer" }, "missed_in_a_row": { "type": "integer" }
        })),
        "CallView": object(&[], json!({
            "call": { "type": "integer" }, "queue": nullable("string"), "language": nullable("string"), "topic": nullable("string"),
            "ivr_path": string(), "repeat_caller": { "type": "boolean" }, "callback": { "type": "boolean" },
            "caller_number": nullable("string"), "number_masked": { "type": "boolean" },
            "on_hold": { "type": "boolean" }, "muted": { "type": "boolean" },
            "monitor": { "oneOf": [reference("CallMonitor"), { "type": "null" }] }
        })),
        "CallMonitor": object(&["supervisor", "mode"], json!({
            "supervisor": string(), "mode": { "enum": ["listen", "whisper", "barge"] }
        })),
        "QueueSummary": object(&[], json!({
            "name": string(), "waiting": { "type": "integer" }, "callbacks": { "type": "integer" },
            "longest_wait_ms": nullable("integer"), "agents_free": { "type": "integer" }
        })),
        "AgentSelf": object(&["agent", "queues"], json!({
            "agent": reference("AgentView"), "offer": { "oneOf": [reference("CallView"), { "type": "null" }] },
            "call": { "oneOf": [reference("CallView"), { "type": "null" }] }, "queues": array_of("QueueSummary")
        })),
        "WaitingView": object(&[], json!({
            "call": { "type": "integer" }, "position": { "type": "integer" }, "priority": { "type": "integer" },
            "waited_ms": { "type": "integer" }, "offered": { "type": "boolean" }, "callback": { "type": "boolean" },
            "language": nullable("string"), "topic": nullable("string")
        })),
        "QueueView": object(&[], json!({
            "name": string(), "closed": { "type": "boolean" }, "waiting": array_of("WaitingView"),
            "longest_wait_ms": nullable("integer"), "agents_staffed": { "type": "integer" }, "agents_free": { "type": "integer" }
        })),
        "QueueViews": array_of("QueueView"),
        "Figures": object(&[], json!({
            "offered": { "type": "integer" }, "answered": { "type": "integer" }, "abandoned": { "type": "integer" },
            "service_level": nullable("number"), "service_level_target": { "type": "number" }, "abandon_rate": nullable("number"),
            "asa_s": nullable("number"), "aht_s": nullable("number"), "satisfaction": nullable("number"),
            "surveys": { "type": "integer" }, "longest_wait_s": nullable("number")
        })),
        "Wallboard": object(&[], json!({
            "in_ivr": { "type": "integer" }, "queues": array_of("QueueView"), "agents": array_of("AgentView"),
            "calls": array_of("CallView"), "today": { "oneOf": [reference("Figures"), { "type": "null" }] }
        })),
        "LiveFrame": {
            "type": "object", "required": ["type"],
            "properties": { "type": { "enum": ["agent", "wallboard", "error"] }, "data": {} },
            "description": "agent: data is AgentSelf; wallboard: data is Wallboard; error: data is {reason}"
        },
        "SoftphoneMessage": {
            "type": "object", "required": ["type"],
            "properties": {
                "type": { "enum": ["offer", "answer", "ice", "bye", "ping", "pong", "error"] },
                "call": nullable("integer"), "sdp": string(), "candidate": string(),
                "sdp_mid": nullable("string"), "sdp_m_line_index": nullable("integer"), "reason": string()
            }
        },
        "Report": { "type": "object", "description": "ivr_store::report JSON (docs/metrics.md)" },
        "DialplanInfo": object(&[], json!({
            "path": string(), "version": string(), "loaded_at_ms": nullable("integer"),
            "last_refusal": { "type": "array", "items": string() }, "reloads": { "type": "integer" }, "refusals": { "type": "integer" }
        })),
        "AcdFiles": object(&[], json!({ "queues_file": string(), "queues_toml": string(), "agents_file": string(), "agents_toml": string() })),
        "AcdView": object(&[], json!({ "files": reference("AcdFiles"), "queues": { "type": "array" }, "agents": { "type": "array" } })),
        "AcdWrite": object(&["queues_toml", "agents_toml"], json!({ "queues_toml": string(), "agents_toml": string() })),
        "CalendarFile": object(&["name", "toml"], json!({ "name": string(), "toml": string() })),
        "CalendarFiles": array_of("CalendarFile"),
        "CalendarWrite": object(&["toml"], json!({ "toml": string() })),
        "UserView": object(&[], json!({
            "login": string(), "display_name": string(), "role": reference("Role"), "agent_login": nullable("string"),
            "disabled": { "type": "boolean" }, "created_at_ms": { "type": "integer" }, "updated_at_ms": { "type": "integer" }
        })),
        "UserViews": array_of("UserView"),
        "NewUser": object(&["login", "display_name", "role", "password"], json!({
            "login": string(), "display_name": string(), "role": reference("Role"),
            "password": { "type": "string", "minLength": 10 }, "agent_login": nullable("string")
        })),
        "UserPatch": object(&[], json!({
            "display_name": string(), "role": reference("Role"), "agent_login": nullable("string"),
            "disabled": { "type": "boolean" }, "password": { "type": "string", "minLength": 10 }
        }))
    })
}

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": reference("Error") } } })
}

fn operation(method: &str, path: &str, role: &str, summary: &str, request: Option<&str>, response: &str) -> Value {
    let mut op = Map::new();
    op.insert("summary".into(), json!(summary));
    op.insert("x-minimum-role".into(), json!(role));
    if role != "public" {
        op.insert("security".into(), json!([{ "session": [] }]));
    }
    let mut parameters = Vec::new();
    if path.contains("{login}") {
        parameters.push(json!({ "name": "login", "in": "path", "required": true, "schema": string() }));
    }
    if path.contains("{name}") {
        parameters.push(json!({ "name": "name", "in": "path", "required": true, "schema": string() }));
    }
    if path.starts_with("/api/reports") {
        for (name, required) in [("from", true), ("to", true), ("by", false), ("question", false)] {
            parameters.push(json!({ "name": name, "in": "query", "required": required, "schema": string() }));
        }
    }
    let state_changing = method != "get";
    if state_changing && role != "public" {
        parameters.push(json!({ "name": "X-CSRF-Token", "in": "header", "required": true, "schema": string() }));
    }
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    if let Some(request) = request {
        op.insert(
            "requestBody".into(),
            json!({ "required": true, "content": { "application/json": { "schema": reference(request) } } }),
        );
    }
    let media = if response == "Csv" { "text/csv" } else { "application/json" };
    let ok = if method == "post" && path == "/api/admin/users" { "201" } else { "200" };
    let mut responses = Map::new();
    responses.insert(ok.into(), json!({ "description": "OK", "content": { media: { "schema": reference(response) } } }));
    responses.insert("400".into(), error_response("Malformed request"));
    if role != "public" {
        responses.insert("401".into(), error_response("Not signed in, or the session expired"));
        responses.insert("403".into(), error_response("Role, ownership, CSRF token or Origin refused"));
    }
    if request.is_some() {
        responses.insert("413".into(), error_response("Body over the limit"));
        responses.insert("415".into(), error_response("Not application/json"));
        responses.insert("422".into(), error_response("Wrong types, missing fields, or values that do not validate"));
    }
    if state_changing {
        responses.insert("409".into(), error_response("Does not fit the current state"));
    }
    if path == "/api/login" {
        responses.insert("429".into(), error_response("Too many attempts; see Retry-After"));
    }
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for &(method, path, role, summary, request, response) in ENDPOINTS {
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        if let Value::Object(ops) = entry {
            ops.insert(method.to_owned(), operation(method, path, role, summary, request, response));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "012 agent and supervisor console API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Session cookie `ivr_session` (HttpOnly, SameSite=Strict) from POST /api/login; every POST, PUT, PATCH and DELETE needs the X-CSRF-Token from /api/me. Errors are {\"error\", \"reason\"}. See docs/console.md."
        },
        "paths": Value::Object(paths),
        "components": {
            "schemas": schemas(),
            "securitySchemes": { "session": { "type": "apiKey", "in": "cookie", "name": crate::SESSION_COOKIE } }
        }
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}
