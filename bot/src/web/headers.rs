//! Security headers on every response: no MIME sniffing, no framing, no referrer, and a
//! Content-Security-Policy that allows nothing by default. A page that needs more (the web chat's
//! own script and style) sets its own policy, naming them by hash; it is kept.

use std::sync::LazyLock;

use axum::{
    Router,
    http::{HeaderValue, header},
    response::Response,
};

/// The one style of the gateway's own small pages (OAuth results, expired links).
pub const PAGE_STYLE: &str = "body{font-family:system-ui;max-width:32rem;margin:3rem auto}";

pub use consentgate_adapters::csp_hash;

/// The policy of every response that sets none: nothing loads but [`PAGE_STYLE`].
static DEFAULT_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let policy = format!(
        "default-src 'none'; style-src {}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        csp_hash(PAGE_STYLE)
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

/// Adds the headers to every response of `router` that does not set them itself.
pub fn secure(router: Router) -> Router {
    router.layer(axum::middleware::map_response(add))
}

async fn add(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert_with(|| DEFAULT_POLICY.clone());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_what_browsers_compute() {
        // The example of the CSP Level 3 specification: alert('Hello, world.');
        assert_eq!(
            csp_hash("alert('Hello, world.');"),
            "'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='"
        );
    }
}
