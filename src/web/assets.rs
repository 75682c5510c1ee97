//! Static assets, embedded in the binary so that no path ever reaches the file system.

use actix_web::http::header;
use std::sync::LazyLock;

use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

use crate::web::error::WebError;

/// The vendored htmx file's name; its version is part of it, so it can be cached forever.
pub const HTMX_FILE: &str = "htmx-2.0.11.min.js";

/// Subresource integrity of the vendored htmx file (checked by a unit test).
pub const HTMX_INTEGRITY: &str = "sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

struct Asset {
    bytes: &'static [u8],
    content_type: &'static str,
    cache_control: &'static str,
}

/// The URL of an embedded asset with a digest of its content, so browsers may cache it
/// for good and still fetch the new file after an upgrade.
pub fn url(name: &str) -> String {
    static VERSIONS: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
        ["app.js", "app.css", "favicon.svg"]
            .into_iter()
            .filter_map(|name| {
                let asset = find(name)?;
                Some((name, hex::encode(&Sha256::digest(asset.bytes)[..6])))
            })
            .collect()
    });
    match VERSIONS.iter().find(|(known, _)| *known == name) {
        Some((_, version)) => format!("/static/{name}?v={version}"),
        None => format!("/static/{name}"),
    }
}

fn find(name: &str) -> Option<Asset> {
    // Pages link our own files with a content digest (see `url`), so a cached copy is
    // never stale; a bare link revalidates after a while.
    const SHORT: &str = "public, max-age=300";
    match name {
        HTMX_FILE => Some(Asset {
            bytes: include_bytes!("../../static/htmx-2.0.11.min.js"),
            content_type: "text/javascript; charset=utf-8",
            cache_control: IMMUTABLE,
        }),
        "app.js" => Some(Asset {
            bytes: include_bytes!("../../static/app.js"),
            content_type: "text/javascript; charset=utf-8",
            cache_control: SHORT,
        }),
        "app.css" => Some(Asset {
            bytes: include_bytes!("../../static/app.css"),
            content_type: "text/css; charset=utf-8",
            cache_control: SHORT,
        }),
        "favicon.svg" => Some(Asset {
            bytes: include_bytes!("../../static/favicon.svg"),
            content_type: "image/svg+xml",
            cache_control: SHORT,
        }),
        _ => None,
    }
}

/// `GET /static/{name}`: only the embedded files, by exact name. A link with the
/// content digest (`?v=`) can be cached for good.
pub async fn serve(req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, WebError> {
    let asset = find(&name).ok_or(WebError::NotFound)?;
    let versioned = req.query_string().starts_with("v=");
    let cache_control = if versioned { IMMUTABLE } else { asset.cache_control };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, asset.content_type))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .body(asset.bytes))
}

#[cfg(test)]
mod tests {
    use sha2::Sha384;

    use super::*;

    #[test]
    fn the_htmx_integrity_matches_the_vendored_file() {
        let digest = Sha384::digest(find(HTMX_FILE).unwrap().bytes);
        let expected = format!("sha384-{}", base64_encode(&digest));
        assert_eq!(HTMX_INTEGRITY, expected);
    }

    fn base64_encode(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn asset_urls_carry_a_content_digest() {
        let app_js = url("app.js");
        assert!(app_js.starts_with("/static/app.js?v=") && app_js.len() == "/static/app.js?v=".len() + 12);
        assert_ne!(url("app.js")[17..], url("app.css")[18..]);
    }

    #[test]
    fn unknown_names_and_traversal_find_nothing() {
        for name in ["../Cargo.toml", ".env", "app.js.bak", ""] {
            assert!(find(name).is_none(), "{name} was served");
        }
    }
}
