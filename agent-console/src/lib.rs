//! # agent-console: the HTTP face of the 012 line
//!
//! Owns the axum router: today `/health` (for load balancers and the test
//! harness) and `/metrics` (Prometheus text); later the agent and supervisor
//! console. It talks to the engine only through the [`ControlPlane`] trait,
//! which the `ivr` server implements: it must never reach into engine
//! internals, hold engine locks, or decide call behaviour itself.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

/// What the console needs from the engine. Implemented by the server.
pub trait ControlPlane: Send + Sync + 'static {
    fn health(&self) -> Health;
    /// The Prometheus text exposition of every metric.
    fn render_metrics(&self) -> String;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// False while shutting down: new calls are refused with 503.
    pub accepting_calls: bool,
    pub active_calls: u64,
    pub prompts_loaded: u64,
}

type SharedControlPlane = Arc<dyn ControlPlane>;

pub fn router(control: SharedControlPlane) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(control)
}

/// 200 while serving, 503 while draining, so a balancer stops sending calls.
async fn health(State(control): State<SharedControlPlane>) -> Response {
    let health = control.health();
    let status = if health.accepting_calls { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(health)).into_response()
}

async fn metrics(State(control): State<SharedControlPlane>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        control.render_metrics(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tower::ServiceExt;

    struct FakeEngine {
        accepting: AtomicBool,
    }

    impl ControlPlane for FakeEngine {
        fn health(&self) -> Health {
            Health { accepting_calls: self.accepting.load(Ordering::Relaxed), active_calls: 3, prompts_loaded: 42 }
        }
        fn render_metrics(&self) -> String {
            "ivr_calls_active 3\n".to_owned()
        }
    }

    async fn get(router: Router, path: &str) -> (StatusCode, String) {
        let res = router.oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = res.status();
        let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn health_is_200_while_accepting_and_503_while_draining() {
        let engine = Arc::new(FakeEngine { accepting: AtomicBool::new(true) });
        let (status, body) = get(router(engine.clone()), "/health").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("\"active_calls\":3"), "{body}");
        engine.accepting.store(false, Ordering::Relaxed);
        let (status, _) = get(router(engine), "/health").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn metrics_are_prometheus_text() {
        let engine = Arc::new(FakeEngine { accepting: AtomicBool::new(true) });
        let (status, body) = get(router(engine), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "ivr_calls_active 3\n");
    }

    #[tokio::test]
    async fn unknown_paths_are_404() {
        let engine = Arc::new(FakeEngine { accepting: AtomicBool::new(true) });
        let (status, _) = get(router(engine), "/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
