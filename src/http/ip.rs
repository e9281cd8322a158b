//! IP addresses and CIDR ranges: parsing the configured lists, and finding the
//! client address from Envoy's downstream peer and (only through trusted
//! proxies) `X-Forwarded-For`.

use std::fmt;
use std::net::IpAddr;

/// One address or range, e.g. `10.0.0.0/8`, `2001:db8::/32`, `192.168.1.7`.
/// Tinyauth's `10.0.0.0-8` spelling (a `-` for the `/`, handy in labels) is
/// accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once(['/', '-']) {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or CIDR range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}` has an invalid prefix length (0-{max})"))?,
        };
        // An IPv4-mapped range (`::ffff:10.0.0.0/104`) is the IPv4 range it maps.
        match (canonical(addr), addr) {
            (IpAddr::V4(v4), IpAddr::V6(_)) if prefix >= 96 => Ok(Self {
                addr: IpAddr::V4(v4),
                prefix: prefix - 96,
            }),
            _ => Ok(Self { addr, prefix }),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(u32::from(net)) << 96,
                u128::from(u32::from(ip)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), self.prefix)
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - u32::from(prefix));
    (a & mask) == (b & mask)
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// A list of ranges; empty means "no entries".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpList(Vec<IpNet>);

impl IpList {
    /// Parses a comma-separated list.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(IpNet::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }
}

/// Parses Envoy's `source.address` property (`1.2.3.4:5678`, `[::1]:5678`).
pub fn parse_socket_address(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    let host = if let Some(rest) = text.strip_prefix('[') {
        rest.split(']').next()?
    } else {
        text.rsplit_once(':')?.0
    };
    host.parse::<IpAddr>().ok().map(canonical)
}

/// The client's address. The downstream peer is the client unless it is a
/// trusted proxy; then `X-Forwarded-For` is read from the right, skipping
/// trusted proxies, and the first untrusted address is the client. An
/// unreadable entry on that walk makes the client unknown (`None`), which IP
/// allow lists treat as "not allowed".
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &IpList,
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let mut nearest = peer;
    for entry in forwarded_for.unwrap_or_default().rsplit(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let ip = parse_socket_address(entry)?;
        if !trusted.contains(ip) {
            return Some(ip);
        }
        nearest = ip;
    }
    Some(nearest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_match() {
        let cases = [
            ("10.0.0.0/8", "10.255.1.2", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("10.0.0.0-8", "10.1.1.1", true),
            ("192.168.1.7", "192.168.1.7", true),
            ("192.168.1.7", "192.168.1.8", false),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("2001:db8::/32", "2001:db8:1::5", true),
            ("2001:db8::/32", "2001:db9::5", false),
            ("::1", "::1", true),
            ("[::1]", "::1", true),
            ("::/0", "2001:db8::1", true),
            ("::/0", "10.0.0.1", false),
            ("10.0.0.0/8", "::ffff:10.0.0.1", true),
            ("::ffff:10.0.0.0/104", "10.0.0.1", true),
        ];
        for (net, addr, want) in cases {
            assert_eq!(
                IpNet::parse(net).unwrap().contains(ip(addr)),
                want,
                "{net} ∋ {addr}"
            );
        }
    }

    #[test]
    fn bad_entries_are_reported() {
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "example.com",
            "10.0.0/8",
            "1.2.3.4/x",
            "",
        ] {
            assert!(IpNet::parse(bad).is_err(), "{bad}");
        }
        assert!(IpList::parse("10.0.0.1, nope")
            .unwrap_err()
            .contains("nope"));
        assert!(IpList::parse(" , ").unwrap().is_empty());
    }

    #[test]
    fn socket_addresses() {
        assert_eq!(parse_socket_address("1.2.3.4:5678"), Some(ip("1.2.3.4")));
        assert_eq!(parse_socket_address("[::1]:80"), Some(ip("::1")));
        assert_eq!(
            parse_socket_address("[::ffff:1.2.3.4]:80"),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(parse_socket_address("1.2.3.4"), Some(ip("1.2.3.4")));
        assert_eq!(parse_socket_address("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_socket_address("garbage"), None);
    }

    #[test]
    fn forwarded_for_only_through_trusted_proxies() {
        let trusted = IpList::parse("10.0.0.0/8").unwrap();
        let none = IpList::default();
        let peer = Some(ip("10.0.0.5"));
        let outside = Some(ip("203.0.113.9"));
        let cases = [
            (
                "no trusted proxies: peer wins",
                outside,
                Some("1.1.1.1"),
                &none,
                Some("203.0.113.9"),
            ),
            (
                "untrusted peer cannot spoof",
                outside,
                Some("1.1.1.1"),
                &trusted,
                Some("203.0.113.9"),
            ),
            (
                "trusted peer: rightmost untrusted",
                peer,
                Some("1.1.1.1, 2.2.2.2"),
                &trusted,
                Some("2.2.2.2"),
            ),
            (
                "skips trusted hops",
                peer,
                Some("1.1.1.1, 10.9.9.9, 10.0.0.5"),
                &trusted,
                Some("1.1.1.1"),
            ),
            (
                "all trusted: leftmost",
                peer,
                Some("10.1.1.1, 10.2.2.2"),
                &trusted,
                Some("10.1.1.1"),
            ),
            (
                "no header: the proxy itself",
                peer,
                None,
                &trusted,
                Some("10.0.0.5"),
            ),
            (
                "garbage hop: unknown",
                peer,
                Some("1.1.1.1, nonsense"),
                &trusted,
                None,
            ),
            (
                "ipv6 hop",
                peer,
                Some("2001:db8::7"),
                &trusted,
                Some("2001:db8::7"),
            ),
            ("no peer", None, Some("1.1.1.1"), &trusted, None),
        ];
        for (name, peer, xff, trusted, want) in cases {
            assert_eq!(client_ip(peer, xff, trusted), want.map(ip), "{name}");
        }
    }
}
