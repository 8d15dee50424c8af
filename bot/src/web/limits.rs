//! Rate limits kept per client address, checked before anything else is done for a request:
//! one client's flood uses up its own allowance, never anyone else's (an admin's, an owner's
//! coming back from a provider). Behind a reverse proxy, name it in `http.trusted_proxies` or
//! every client has the proxy's address.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    num::NonZeroU32,
    sync::Arc,
};

use axum::{
    Router,
    extract::{ConnectInfo, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use consentgate_adapters::client::ClientAddr;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Addresses remembered before the idle ones are forgotten.
const REMEMBERED: usize = 10_000;

/// The client's address, as the server resolved it when the request arrived (the connection's
/// peer, or behind a trusted proxy the address it forwarded).
pub fn client(req: &Request) -> IpAddr {
    if let Some(c) = req.extensions().get::<ClientAddr>() {
        return c.0;
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// `router`, with at most `per_second` requests a second (bursts of `burst`) from each client.
pub fn per_client(router: Router, per_second: u32, burst: u32) -> Router {
    let quota = Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
    let limiter: Arc<DefaultKeyedRateLimiter<IpAddr>> = Arc::new(RateLimiter::keyed(quota));
    router.layer(axum::middleware::from_fn_with_state(limiter, check))
}

async fn check(
    State(limiter): State<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    req: Request,
    next: Next,
) -> Response {
    if limiter.len() > REMEMBERED {
        limiter.retain_recent();
    }
    if limiter.check_key(&client(&req)).is_err() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests from this address; try again in a moment.\n",
        )
            .into_response();
    }
    next.run(req).await
}
