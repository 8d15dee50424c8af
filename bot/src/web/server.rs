//! The HTTP server's own defences, which `axum::serve` does not have: a cap on open connections
//! (below the process's descriptor limit, so idle sockets cannot starve the database and the
//! health probes of descriptors), a time limit on reading a request's head (which also closes
//! idle keep-alive connections and one-byte-at-a-time senders), a time limit on reading its body,
//! and graceful shutdown: connections in progress finish, new ones are not accepted.

use std::{sync::Arc, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper::{Request, body::Incoming};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::app::Shutdown;

/// Descriptors kept back from the connection cap: the database pool, outbound HTTP clients,
/// log and data files.
const RESERVED_DESCRIPTORS: u64 = 128;

/// The limits the server keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open connections at most; more wait in the listen queue until one closes.
    pub max_connections: usize,
    /// Time to receive a request's head, counted from the connection or the previous response.
    pub header_timeout: Duration,
    /// Time to receive a request's body.
    pub body_timeout: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<[std::net::IpAddr]>,
}

impl Limits {
    /// `configured` connections, but never more than the descriptor limit leaves room for.
    pub fn within_descriptors(self) -> Limits {
        let cap = descriptor_limit()
            .map(|n| n.saturating_sub(RESERVED_DESCRIPTORS).max(16) as usize)
            .unwrap_or(usize::MAX);
        Limits {
            max_connections: self.max_connections.min(cap),
            ..self
        }
    }
}

/// Raises the process's soft limit on open descriptors to its hard limit (a container's or
/// service manager's soft limit is often 1,024 while the hard one is far higher) and returns
/// the limit now in force. Each connection holds one descriptor.
pub fn raise_descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0
            && limit.rlim_cur < limit.rlim_max
        {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            // SAFETY: setrlimit only reads the struct it is given; raising the soft limit up to
            // the hard one needs no privilege. On failure the old limit stays.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
        }
    }
    descriptor_limit()
}

/// The process's soft limit on open descriptors, where the platform tells it.
fn descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Serves `router` on `listener` until `shutdown` fires, then lets open connections finish for
/// up to `drain`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut shutdown: Shutdown,
    drain: Duration,
) {
    let router = router.layer(RequestBodyTimeoutLayer::new(limits.body_timeout));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = shutdown.requested() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors or a connection reset while queued: wait a little, as
                    // axum::serve does, instead of spinning.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.requested() => break,
        };
        let _ = stream.set_nodelay(true);
        // Each request learns its client's address, for limits kept per client.
        let router = router.clone();
        let trusted = limits.trusted_proxies.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let client = consentgate_adapters::client::resolve(peer.ip(), req.headers(), &trusted);
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut()
                .insert(consentgate_adapters::client::ClientAddr(client));
            let mut router = router.clone();
            async move { tower::Service::call(&mut router, req).await }
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A connection closed for a slow or idle client is not worth a log line.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open at the shutdown deadline");
    }
}
