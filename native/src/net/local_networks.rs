//! The machine's own networks (the subnets of its interfaces), which the engine treats as the
//! office LAN: peers there get our unchoke slots first, and a piece one of them holds is never
//! fetched across the WAN (see `bitfleet_core::engine::Config::local_networks`).

use std::net::IpAddr;

use ipnet::IpNet;
use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;
use nix::sys::socket::SockaddrStorage;

/// Subnets narrower than this are not a LAN worth preferring (a /32 on a tunnel, a host
/// route); wider ones are kept as they are: an office that is one /16 is one site.
const MAX_PREFIX_V4: u8 = 30;
const MAX_PREFIX_V6: u8 = 64;

/// The subnets of every interface that is up, except loopback and link-local ones; empty when
/// the interfaces cannot be listed (nothing is then preferred).
pub fn detect() -> Vec<IpNet> {
    let addresses = match getifaddrs() {
        Ok(addresses) => addresses,
        Err(err) => {
            tracing::warn!(%err, "cannot list network interfaces: no LAN preference");
            return Vec::new();
        }
    };
    let mut networks: Vec<IpNet> = addresses
        .filter(|iface| {
            iface.flags.contains(InterfaceFlags::IFF_UP)
                && !iface.flags.contains(InterfaceFlags::IFF_LOOPBACK)
        })
        .filter_map(|iface| subnet(iface.address.as_ref()?, iface.netmask.as_ref()?))
        .collect();
    networks.sort();
    networks.dedup();
    networks
}

/// The network an interface address belongs to, if it is one worth preferring.
fn subnet(address: &SockaddrStorage, netmask: &SockaddrStorage) -> Option<IpNet> {
    let (ip, mask): (IpAddr, IpAddr) = match (address.as_sockaddr_in(), netmask.as_sockaddr_in()) {
        (Some(a), Some(m)) => (a.ip().into(), m.ip().into()),
        _ => {
            let (a, m) = (address.as_sockaddr_in6()?, netmask.as_sockaddr_in6()?);
            (a.ip().into(), m.ip().into())
        }
    };
    let net = IpNet::with_netmask(ip, mask).ok()?.trunc();
    is_lan(&net).then_some(net)
}

fn is_lan(net: &IpNet) -> bool {
    match net {
        IpNet::V4(v4) => {
            !v4.addr().is_loopback()
                && !v4.addr().is_link_local()
                && v4.prefix_len() <= MAX_PREFIX_V4
        }
        IpNet::V6(v6) => {
            !v6.addr().is_loopback()
                && !v6.addr().is_unicast_link_local()
                && v6.prefix_len() <= MAX_PREFIX_V6
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_link_local_and_host_routes_are_not_lans() {
        let lan = |s: &str| is_lan(&s.parse().unwrap());
        assert!(lan("10.1.0.0/24"));
        assert!(lan("10.0.0.0/8"));
        assert!(lan("fd00:1::/64"));
        assert!(!lan("127.0.0.0/8"));
        assert!(!lan("169.254.0.0/16"));
        assert!(!lan("fe80::/64"));
        assert!(!lan("10.1.0.7/32"));
        assert!(!lan("fd00::1/128"));
    }

    #[test]
    fn detection_finds_no_loopback() {
        // Every machine has lo; whatever else it has, lo is never a LAN.
        assert!(detect().iter().all(|net| !net.addr().is_loopback()));
    }
}
