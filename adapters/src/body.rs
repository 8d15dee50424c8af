//! Reading a webhook's body only after its sender is authenticated, and only up to a limit: an
//! unauthenticated request is refused on its headers, before a byte of its body is read, so
//! unfinished or oversized bodies from strangers cost neither memory nor time.

use axum::{
    body::Body,
    http::{HeaderMap, StatusCode, header},
};
use futures::StreamExt;

/// Reads `body` to the end, at most `limit` bytes, handing each chunk to `each` as it arrives
/// (WhatsApp's signature is computed while the body streams in). A body declared or found larger
/// than `limit` is 413 Payload Too Large; one that breaks off is 400.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    mut each: impl FnMut(&[u8]),
) -> Result<Vec<u8>, StatusCode> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let mut out = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| StatusCode::BAD_REQUEST)?;
        if out.len() + chunk.len() > limit {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        each(&chunk);
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_are_read_whole_within_the_limit_and_refused_beyond_it() {
        let headers = HeaderMap::new();
        let mut seen = 0;
        let body = read_limited(&headers, Body::from("hello"), 5, |c| seen += c.len())
            .await
            .unwrap();
        assert_eq!((body.as_slice(), seen), (&b"hello"[..], 5));
        assert_eq!(
            read_limited(&headers, Body::from("hello!"), 5, |_| {}).await,
            Err(StatusCode::PAYLOAD_TOO_LARGE)
        );
        let mut declared = HeaderMap::new();
        declared.insert(header::CONTENT_LENGTH, "1000000".parse().unwrap());
        assert_eq!(
            read_limited(&declared, Body::from("x"), 5, |_| {}).await,
            Err(StatusCode::PAYLOAD_TOO_LARGE)
        );
    }
}
