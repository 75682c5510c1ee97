//! Static assets, embedded in the binary so that no path ever reaches the file system.

use actix_web::http::header;
use std::sync::LazyLock;

use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256, Sha384};

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

/// Our own files, each with the digests pages link it by.
struct Digests {
    name: &'static str,
    /// A short SHA-256 of the content, for the URL.
    version: String,
    /// Subresource integrity, `sha384-…`.
    integrity: String,
}

/// Computed once from the embedded bytes, so an edit to a file never leaves a stale hash.
static DIGESTS: LazyLock<Vec<Digests>> = LazyLock::new(|| {
    ["app.js", "app.css", "favicon.svg"]
        .into_iter()
        .filter_map(|name| {
            let asset = find(name)?;
            Some(Digests {
                name,
                version: hex::encode(&Sha256::digest(asset.bytes)[..6]),
                integrity: format!("sha384-{}", base64_encode(&Sha384::digest(asset.bytes))),
            })
        })
        .collect()
});

fn digests(name: &str) -> Option<&'static Digests> {
    DIGESTS.iter().find(|digests| digests.name == name)
}

/// The URL of an embedded asset with a digest of its content, so browsers may cache it
/// for good and still fetch the new file after an upgrade.
pub fn url(name: &str) -> String {
    match digests(name) {
        Some(digests) => format!("/static/{name}?v={}", digests.version),
        None => format!("/static/{name}"),
    }
}

/// The subresource integrity of our own `app.js` or `app.css`, for the page's `integrity`
/// attribute: the browser refuses a file that differs from the one this binary embeds.
pub fn integrity(name: &str) -> &'static str {
    digests(name).map_or("", |digests| digests.integrity.as_str())
}

/// Standard base64 with padding, as `integrity` attributes take it.
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
    use super::*;

    #[test]
    fn the_htmx_integrity_matches_the_vendored_file() {
        let digest = Sha384::digest(find(HTMX_FILE).unwrap().bytes);
        let expected = format!("sha384-{}", base64_encode(&digest));
        assert_eq!(HTMX_INTEGRITY, expected);
    }

    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        assert_eq!(base64_encode(b"Man"), "TWFu");
        assert_eq!(base64_encode(b"Ma"), "TWE=");
        assert_eq!(base64_encode(b"M"), "TQ==");
        assert_eq!(base64_encode(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn our_scripts_and_styles_carry_the_integrity_of_their_bytes() {
        for name in ["app.js", "app.css"] {
            let digest = Sha384::digest(find(name).unwrap().bytes);
            assert_eq!(integrity(name), format!("sha384-{}", base64_encode(&digest)));
        }
        assert_eq!(integrity("no-such-file.js"), "");
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
