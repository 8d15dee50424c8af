//! Who a request comes from, for limits kept per client. Directly connected clients are known by
//! their address. Behind a reverse proxy every request comes from the proxy, so the proxy's own
//! addresses can be named as trusted: for a request from one of them, the client is the last
//! address in `X-Forwarded-For` that is not itself a trusted proxy (the entries before it could
//! be anything the client wrote). Nothing else in the header is believed.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// The client of a request, as the server resolved it. Inserted into every request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client of a request that arrived from `peer`, given the proxies trusted.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .map(|a| a.parse::<IpAddr>())
        .collect::<Result<_, _>>()
        // A header the proxy garbled (or passed on garbled): the proxy is the client.
        .unwrap_or_default();
    forwarded
        .into_iter()
        .rev()
        .find(|a| !trusted.contains(a))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_a_trusted_proxy_is_believed_and_only_its_own_entry() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let trusted = [proxy, "10.0.0.3".parse().unwrap()];
        // Not from a trusted proxy: the header is ignored.
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            resolve(stranger, &headers(&["203.0.113.7"]), &trusted),
            stranger
        );
        // From the proxy: the address it appended, not what the client wrote before it.
        assert_eq!(
            resolve(proxy, &headers(&["1.2.3.4, 203.0.113.7"]), &trusted),
            client
        );
        // Two proxies in a row, and the header split over two lines.
        assert_eq!(
            resolve(
                proxy,
                &headers(&["1.2.3.4", "203.0.113.7, 10.0.0.3"]),
                &trusted
            ),
            client
        );
        // No header, or a garbled one: the proxy itself.
        assert_eq!(resolve(proxy, &headers(&[]), &trusted), proxy);
        assert_eq!(
            resolve(proxy, &headers(&["not an address"]), &trusted),
            proxy
        );
        // No proxy trusted: nobody's header counts.
        assert_eq!(resolve(proxy, &headers(&["203.0.113.7"]), &[]), proxy);
    }
}
