//! Trusted proxies: which peers may tell the client's address through
//! `X-Forwarded-For` (see [`Config::trusted_proxies`](crate::Config::trusted_proxies)).

use http::HeaderMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An address or network of proxies whose `X-Forwarded-For` is believed:
/// `"10.0.0.7"`, `"10.0.0.0/8"`, `"::1"`, `"fd00::/8"`.
///
/// ```
/// use sockjs_server::ProxyNet;
/// let net: ProxyNet = "10.1.0.0/16".parse().unwrap();
/// assert!(net.contains("10.1.200.3".parse().unwrap()));
/// assert!(!net.contains("10.2.0.1".parse().unwrap()));
/// assert!("10.0.0.0/33".parse::<ProxyNet>().is_err());
/// let one = ProxyNet::from(std::net::Ipv4Addr::LOCALHOST);
/// assert_eq!(one.to_string(), "127.0.0.1/32");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProxyNet {
    addr: IpAddr,
    bits: u8,
}

/// A [`ProxyNet`] that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an IP address or network (ADDR or ADDR/BITS): {0:?}")]
pub struct ProxyNetError(String);

impl ProxyNet {
    /// The network of `addr`'s first `bits` bits (at most 32 for IPv4, 128 for IPv6).
    pub fn new(addr: IpAddr, bits: u8) -> Option<ProxyNet> {
        (bits <= max_bits(addr)).then_some(ProxyNet { addr, bits })
    }

    /// True when `ip` is in this network. An IPv4 address given as
    /// IPv6 (`::ffff:a.b.c.d`) matches as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => same_prefix(&net.octets(), &ip.octets(), self.bits),
            (IpAddr::V6(net), IpAddr::V6(ip)) => same_prefix(&net.octets(), &ip.octets(), self.bits),
            _ => false,
        }
    }
}

impl From<IpAddr> for ProxyNet {
    fn from(addr: IpAddr) -> ProxyNet {
        let addr = canonical(addr);
        ProxyNet {
            addr,
            bits: max_bits(addr),
        }
    }
}

impl From<std::net::Ipv4Addr> for ProxyNet {
    fn from(addr: std::net::Ipv4Addr) -> ProxyNet {
        ProxyNet::from(IpAddr::V4(addr))
    }
}

impl From<std::net::Ipv6Addr> for ProxyNet {
    fn from(addr: std::net::Ipv6Addr) -> ProxyNet {
        ProxyNet::from(IpAddr::V6(addr))
    }
}

impl FromStr for ProxyNet {
    type Err = ProxyNetError;

    fn from_str(s: &str) -> Result<ProxyNet, ProxyNetError> {
        let err = || ProxyNetError(s.to_owned());
        let (addr, bits) = match s.trim().split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s.trim(), None),
        };
        let addr = canonical(addr.parse::<IpAddr>().map_err(|_| err())?);
        match bits {
            None => Ok(ProxyNet::from(addr)),
            Some(b) => {
                let bits = b.parse::<u8>().map_err(|_| err())?;
                ProxyNet::new(addr, bits).ok_or_else(err)
            }
        }
    }
}

impl fmt::Display for ProxyNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.bits)
    }
}

fn max_bits(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn same_prefix(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    if a[..full] != b[..full] {
        return false;
    }
    let rest = bits % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

/// The client's address: `peer` itself, unless `peer` is a trusted proxy,
/// in which case `X-Forwarded-For` is read from its right end (the entry
/// the nearest proxy added) leftwards, past every trusted proxy, to the
/// first address that is not one. Entries a trusted proxy did not vouch
/// for (left of the first untrusted one) are never used. A header that does
/// not parse leaves the peer's own address. The port of a forwarded
/// address is 0 (the header carries none).
pub(crate) fn client_addr(peer: SocketAddr, headers: &HeaderMap, trusted: &[ProxyNet]) -> SocketAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if trusted.is_empty() || !is_trusted(peer.ip()) {
        return peer;
    }
    let mut found = None;
    // Several header lines form one list, in order.
    let entries = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for entry in entries.iter().rev() {
        let Some(ip) = parse_entry(entry) else {
            // Unparseable: nothing to its left can be trusted either.
            break;
        };
        found = Some(ip);
        if !is_trusted(ip) {
            break;
        }
    }
    found.map_or(peer, |ip| SocketAddr::new(ip, 0))
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`1.2.3.4:5678`, `[::1]:80`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    entry.parse::<SocketAddr>().ok().map(|s| canonical(s.ip()))
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

    fn nets(list: &[&str]) -> Vec<ProxyNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_only_from_trusted_peers() {
        let peer: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let h = headers(&["203.0.113.9"]);
        // No trusted proxies: the header is ignored.
        assert_eq!(client_addr(peer, &h, &[]), peer);
        // An untrusted peer's header is ignored.
        assert_eq!(client_addr(peer, &h, &nets(&["10.0.1.0/24"])), peer);
        // A trusted one's is believed.
        assert_eq!(
            client_addr(peer, &h, &nets(&["10.0.0.0/24"])),
            "203.0.113.9:0".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn rightmost_untrusted_entry_wins() {
        let peer: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let trusted = nets(&["10.0.0.0/8"]);
        // The client forged the first entry; the proxies added the others.
        let h = headers(&["1.1.1.1, 198.51.100.7", "10.0.0.9"]);
        assert_eq!(client_addr(peer, &h, &trusted).ip().to_string(), "198.51.100.7");
        // Every entry trusted: the leftmost one.
        let h = headers(&["10.9.9.9, 10.0.0.9"]);
        assert_eq!(client_addr(peer, &h, &trusted).ip().to_string(), "10.9.9.9");
        // Garbage stops the walk: what is left of it is not vouched for.
        let h = headers(&["1.1.1.1, junk, 10.0.0.9"]);
        assert_eq!(client_addr(peer, &h, &trusted).ip().to_string(), "10.0.0.9");
        // Entries with ports, and IPv6.
        let h = headers(&["[2001:db8::1]:443, 192.0.2.1:80"]);
        assert_eq!(client_addr(peer, &h, &trusted).ip().to_string(), "192.0.2.1");
        let h = headers(&[]);
        assert_eq!(client_addr(peer, &h, &trusted), peer);
    }

    #[test]
    fn nets_parse_and_match() {
        assert!("::ffff:10.0.0.1"
            .parse::<ProxyNet>()
            .unwrap()
            .contains("10.0.0.1".parse().unwrap()));
        let v6: ProxyNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        let odd: ProxyNet = "192.168.0.0/23".parse().unwrap();
        assert!(odd.contains("192.168.1.255".parse().unwrap()));
        assert!(!odd.contains("192.168.2.0".parse().unwrap()));
        for bad in ["", "10.0.0.0/", "10.0.0.0/x", "::/129", "example.com"] {
            assert!(bad.parse::<ProxyNet>().is_err(), "{bad}");
        }
        assert!("0.0.0.0/0"
            .parse::<ProxyNet>()
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
    }
}
