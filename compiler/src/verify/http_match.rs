//! What the ingress interpreters (ingress-nginx, Traefik) share: reading loosely typed
//! manifest fields, client ranges and Service ports.
//!
//! Takes: pieces of YAML values and annotation strings. Gives: plain Rust values, or
//! `None` when a value does not have the shape the controller requires.
//! Must not: know either controller's routing rules; every decision about what a
//! malformed value means belongs to the interpreter that reads it.

use std::net::IpAddr;

use crate::verify::value::Value;

use super::world::cidr_contains;
use super::ServicePort;

/// A boolean as Go's `strconv.ParseBool` reads it (how both controllers read annotation
/// and flag strings): `1 t T TRUE true True` and `0 f F FALSE false False`.
pub fn go_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A client range as both controllers accept it: a CIDR, or a single address (taken as
/// `/32` or `/128`). `None` when it is neither.
pub fn client_range(text: &str) -> Option<String> {
    let text = text.trim();
    if let Some((network, bits)) = text.split_once('/') {
        let network: IpAddr = network.parse().ok()?;
        let bits: u32 = bits.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        return (bits <= max).then(|| format!("{network}/{bits}"));
    }
    let address: IpAddr = text.parse().ok()?;
    Some(if address.is_ipv4() { format!("{address}/32") } else { format!("{address}/128") })
}

/// True when `client` lies in one of `ranges` (already checked by [`client_range`]).
pub fn in_ranges(ranges: &[String], client: IpAddr) -> bool {
    ranges.iter().any(|range| cidr_contains(range, client))
}

/// A Service port given as a number or a name (Kubernetes' int-or-string). A quoted
/// number is a name, as both controllers read it. `None` for anything else, or a
/// number outside 1..=65535.
pub fn service_port(value: &Value) -> Option<ServicePort> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()).filter(|n| *n > 0).map(ServicePort::Number),
        Value::String(s) if !s.is_empty() => Some(ServicePort::Name(s.to_string())),
        _ => None,
    }
}

/// A field present with a shape other than the one its kind requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongShape;

/// A field that must be a string when present: `Ok(None)` when absent (or null).
pub fn optional_str(value: &Value) -> Result<Option<&str>, WrongShape> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(WrongShape),
    }
}

/// A field that must be a list when present: empty when absent (or null).
pub fn optional_list(value: &Value) -> Result<&[Value], WrongShape> {
    match value {
        Value::Null => Ok(&[]),
        Value::Sequence(items) => Ok(items),
        _ => Err(WrongShape),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_read_like_go() {
        assert_eq!(go_bool("True"), Some(true));
        assert_eq!(go_bool(" 0 "), Some(false));
        assert_eq!(go_bool("yes"), None);
    }

    #[test]
    fn client_ranges_accept_cidrs_and_single_addresses() {
        assert_eq!(client_range(" 10.0.0.0/8").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(client_range("192.0.2.7").as_deref(), Some("192.0.2.7/32"));
        assert_eq!(client_range("2001:db8::1").as_deref(), Some("2001:db8::1/128"));
        assert_eq!(client_range("10.0.0.0/33"), None);
        assert_eq!(client_range("ten"), None);
        let ranges = vec!["10.0.0.0/8".to_string()];
        assert!(in_ranges(&ranges, "10.1.2.3".parse().unwrap()));
        assert!(!in_ranges(&ranges, "11.1.2.3".parse().unwrap()));
    }

    #[test]
    fn service_ports_are_numbers_or_names() {
        let v = |s: &str| serde_yaml::from_str::<Value>(s).unwrap();
        assert_eq!(service_port(&v("8080")), Some(ServicePort::Number(8080)));
        assert_eq!(service_port(&v("http")), Some(ServicePort::Name("http".into())));
        assert_eq!(service_port(&v("\"80\"")), Some(ServicePort::Name("80".into())));
        assert_eq!(service_port(&v("70000")), None);
        assert_eq!(service_port(&v("0")), None);
        assert_eq!(service_port(&v("[1]")), None);
    }
}
