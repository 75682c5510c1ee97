//! Health and readiness for load balancers and orchestrators.

use actix_web::{HttpResponse, web};

use crate::web::AppState;

/// `GET /healthz`: the process answers; touches no database.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: 200 only while the database answers.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.db.is_ready().await {
        HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "unavailable",
            "error": {"code": "database_unavailable", "message": "The database does not answer."}
        }))
    }
}
