//! Reading a JSON body: at most 64 KB, within the server's body deadline, into a typed
//! struct that refuses fields it does not know. An empty body reads as `{}`.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::ManageState;
use super::error::ManageError;

/// The largest body the management API reads.
pub const MAX_BODY: usize = 64 * 1024;

/// A JSON body read into `T`, with the bytes it came as (an `Idempotency-Key` compares
/// them).
#[derive(Debug)]
pub struct Json<T> {
    /// The body, as typed.
    pub value: T,
    /// The body as sent.
    pub raw: Bytes,
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

async fn read(req: HttpRequest, mut payload: actix_web::dev::Payload) -> Result<Bytes, ManageError> {
    let timeout = req
        .app_data::<web::Data<ManageState>>()
        .map_or(std::time::Duration::from_secs(10), |state| state.body_timeout);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY) {
        return Err(ManageError::TooLarge);
    }
    let collect = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|err| ManageError::Invalid {
                field: None,
                message: format!("The request body could not be read: {err}"),
            })?;
            if body.len() + chunk.len() > MAX_BODY {
                return Err(ManageError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    tokio::time::timeout(timeout, collect)
        .await
        .map_err(|_| ManageError::BodyTimeout)?
}

/// The field a serde error names in its message (unknown, missing or repeated fields
/// are named there, not in the path).
pub(super) fn named_field(message: &str) -> Option<String> {
    for marker in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(rest) = message.split(marker).nth(1) {
            return rest.split('`').next().map(str::to_owned);
        }
    }
    None
}

/// Reads `raw` into `T`; an empty body is `{}`. A value of the wrong type is refused
/// with the field it was sent in.
pub fn parse<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ManageError> {
    let raw = if raw.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        raw
    };
    // serde would read a struct from an array by position; every body is an object.
    if raw.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ManageError::Invalid {
            field: None,
            message: "The request body must be a JSON object.".to_owned(),
        });
    }
    let mut reader = serde_json::Deserializer::from_slice(raw);
    let (field, err) = match serde_path_to_error::deserialize(&mut reader) {
        Ok(value) => match reader.end() {
            Ok(()) => return Ok(value),
            Err(err) => (None, err),
        },
        Err(err) => {
            let path = err.path().to_string();
            let err = err.into_inner();
            // Only a value that was read has a place; broken JSON has none.
            let placed = err.classify() == serde_json::error::Category::Data && path != ".";
            let field = named_field(&err.to_string()).or_else(|| placed.then_some(path));
            (field, err)
        }
    };
    let message = match err.classify() {
        serde_json::error::Category::Data => format!("The request body is not valid: {err}."),
        _ => format!("The request body is not valid JSON: {err}."),
    };
    Err(ManageError::Invalid { field, message })
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let declares_body = req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_some_and(|value| value.as_bytes() != b"0")
                || req.headers().contains_key(header::TRANSFER_ENCODING);
            if declares_body && !is_json(&req) {
                return Err(ManageError::UnsupportedMediaType.into());
            }
            let raw = read(req, payload).await?;
            let value = parse(&raw)?;
            Ok(Json { value, raw })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: Option<String>,
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        match parse::<Sample>(br#"{"name":"a","nmae":"b"}"#) {
            Err(ManageError::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some("nmae")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse::<Sample>(br#"{"name":"a"}"#).unwrap().name.as_deref(),
            Some("a")
        );
        assert!(
            parse::<Sample>(b"").unwrap().name.is_none(),
            "an empty body is {{}}"
        );
        assert!(
            matches!(
                parse::<Sample>(br#"["a"]"#),
                Err(ManageError::Invalid { field: None, .. })
            ),
            "an array is not read as a struct by position"
        );
        assert!(matches!(
            parse::<Sample>(b"{"),
            Err(ManageError::Invalid { field: None, .. })
        ));
        assert!(matches!(
            parse::<Sample>(br#"{"name":"a"} {}"#),
            Err(ManageError::Invalid { field: None, .. })
        ));
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused_by_its_field() {
        match parse::<Sample>(br#"{"name":7}"#) {
            Err(ManageError::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some("name")),
            other => panic!("{other:?}"),
        }
    }
}
