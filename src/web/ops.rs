//! Health and readiness for load balancers and orchestrators.

use actix_web::{HttpResponse, web};

use crate::db::Readiness;
use crate::drain::Drain;
use crate::web::state::AppState;

/// `GET /healthz`: the process answers; touches no database.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: 200 only while the database answers and takes writes, and the server
/// is not stopping.
pub async fn readyz(state: web::Data<AppState>, drain: web::Data<Drain>) -> HttpResponse {
    let readiness = if drain.is_draining() {
        None
    } else {
        Some(state.db.readiness().await)
    };
    let (code, message) = match readiness {
        None => ("draining", "This instance is stopping: send requests to another."),
        Some(readiness) => match readiness {
            Readiness::Ready => return HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
            Readiness::Unavailable => ("database_unavailable", "The database does not answer."),
            Readiness::Unwritable => (
                "database_unwritable",
                "The database answers but cannot be written: it is read-only or its disk is full.",
            ),
        },
    };
    HttpResponse::ServiceUnavailable().json(serde_json::json!({
        "status": "unavailable",
        "error": {"code": code, "message": message}
    }))
}
