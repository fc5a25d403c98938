//! Validators for the values a policy writes: Kubernetes names, ports, labels, CIDRs,
//! hosts, paths, methods, URLs.
//!
//! Takes: one value's text. Gives: the parsed value, or a reason in the user's words
//! (lowercase, no trailing period) that the caller wraps in a diagnostic with the right
//! code and span. Must not: build diagnostics or know about the AST.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ir::Protocol;

/// Longest DNS-1123 label (and label-selector name or value).
pub const MAX_LABEL: usize = 63;
/// Longest DNS-1123 subdomain.
pub const MAX_SUBDOMAIN: usize = 253;
/// Longest IANA service name (a container port name).
pub const MAX_PORT_NAME: usize = 15;

/// The protocols a port may declare, as written.
pub const PROTOCOLS: &[&str] = &["tcp", "udp", "http", "grpc"];

/// The HTTP methods `methods` admits, as written (upper case).
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"];

/// A DNS-1123 label: at most 63 of `[a-z0-9-]`, starting and ending alphanumeric.
pub fn dns1123_label(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if s.len() > MAX_LABEL {
        return Err(format!("it is {} characters long; the limit is {MAX_LABEL}", s.len()));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        return Err(format!("`{c}` is not allowed: use lower-case letters, digits and `-`"));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("it must start and end with a letter or digit".into());
    }
    Ok(())
}

/// A DNS-1123 subdomain: at most 253 characters, DNS-1123 labels joined by `.`.
pub fn dns1123_subdomain(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if s.len() > MAX_SUBDOMAIN {
        return Err(format!("it is {} characters long; the limit is {MAX_SUBDOMAIN}", s.len()));
    }
    for part in s.split('.') {
        if part.is_empty() {
            return Err("it has an empty part between dots".into());
        }
        if let Some(c) = part.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
            return Err(format!("`{c}` is not allowed: use lower-case letters, digits, `-` and `.`"));
        }
        if part.starts_with('-') || part.ends_with('-') {
            return Err(format!("the part `{part}` must start and end with a letter or digit"));
        }
    }
    Ok(())
}

/// A DNS-1035 label (Service names): a DNS-1123 label that starts with a letter.
pub fn dns1035_label(s: &str) -> Result<(), String> {
    dns1123_label(s)?;
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("it must start with a letter".into());
    }
    Ok(())
}

/// An IANA service name, which Kubernetes requires of port names.
pub fn port_name(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if s.len() > MAX_PORT_NAME {
        return Err(format!("it is {} characters long; the limit is {MAX_PORT_NAME}", s.len()));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        return Err(format!("`{c}` is not allowed: use lower-case letters, digits and `-`"));
    }
    if !s.chars().any(|c| c.is_ascii_lowercase()) {
        return Err("it must contain at least one letter".into());
    }
    if s.starts_with('-') || s.ends_with('-') || s.contains("--") {
        return Err("`-` may not start or end it, nor appear twice in a row".into());
    }
    Ok(())
}

/// What is wrong with a `NUMBER/PROTO` port specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpecError {
    /// Not `NUMBER/PROTO` at all.
    Malformed,
    /// The number part is not in 1..=65535 (byte range of the number within the text).
    OutOfRange { number: String, at: std::ops::Range<usize> },
    /// An unknown protocol (byte range of it within the text).
    UnknownProtocol { protocol: String, at: std::ops::Range<usize> },
}

/// `8080/http` to its number and protocol.
pub fn port_spec(s: &str) -> Result<(u16, Protocol), PortSpecError> {
    let Some((number, protocol)) = s.split_once('/') else {
        return Err(PortSpecError::Malformed);
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PortSpecError::Malformed);
    }
    let value: Option<u32> = number.parse().ok();
    let number_at = 0..number.len();
    let number = match value {
        Some(n @ 1..=65535) => n as u16,
        _ => return Err(PortSpecError::OutOfRange { number: number.to_string(), at: number_at }),
    };
    let protocol_at = s.len() - protocol.len()..s.len();
    let protocol = match protocol {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "http" => Protocol::Http,
        "grpc" => Protocol::Grpc,
        _ => return Err(PortSpecError::UnknownProtocol { protocol: protocol.to_string(), at: protocol_at }),
    };
    Ok((number, protocol))
}

/// One `key=value` of a `select`: the key and value, or what is wrong with it.
pub fn label_pair(s: &str) -> Result<(String, String), String> {
    let Some((key, value)) = s.split_once('=') else {
        return Err("a selector is written `KEY=VALUE`".into());
    };
    label_key(key)?;
    label_value(value)?;
    Ok((key.to_string(), value.to_string()))
}

fn label_name(part: &str, what: &str) -> Result<(), String> {
    if part.len() > MAX_LABEL {
        return Err(format!("the {what} is {} characters long; the limit is {MAX_LABEL}", part.len()));
    }
    if let Some(c) = part.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(format!("the {what} may not contain `{c}`: use letters, digits, `-`, `_` and `.`"));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !(part.is_empty() || alnum(part.chars().next()) && alnum(part.chars().last())) {
        return Err(format!("the {what} must start and end with a letter or digit"));
    }
    Ok(())
}

/// A label key: optional `PREFIX/` (a DNS-1123 subdomain) and a name.
pub fn label_key(key: &str) -> Result<(), String> {
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            dns1123_subdomain(prefix).map_err(|why| format!("the key prefix `{prefix}` is invalid: {why}"))?;
            name
        }
        None => key,
    };
    if name.is_empty() {
        return Err("the key name is empty".into());
    }
    label_name(name, "key name")
}

/// A label value: empty, or a name of at most 63 characters.
pub fn label_value(value: &str) -> Result<(), String> {
    label_name(value, "value")
}

/// What is wrong with a CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidrError {
    Invalid(String),
    /// Host bits are set: the canonical form to suggest.
    NotCanonical(String),
}

/// A CIDR to its canonical text (`203.0.113.0/24`, `2001:db8::/32`).
pub fn cidr(s: &str) -> Result<String, CidrError> {
    let Some((addr, len)) = s.split_once('/') else {
        return Err(match s.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => CidrError::NotCanonical(format!("{a}/32")),
            Ok(IpAddr::V6(a)) => CidrError::NotCanonical(format!("{a}/128")),
            Err(_) => CidrError::Invalid("a CIDR is written `ADDRESS/LENGTH`".into()),
        });
    };
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CidrError::Invalid(format!("the prefix length `{len}` is not a number")));
    }
    let len: u32 = len.parse().map_err(|_| CidrError::Invalid("the prefix length is not a number".into()))?;
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => {
            if len > 32 {
                return Err(CidrError::Invalid(format!("an IPv4 prefix length is at most 32, not {len}")));
            }
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            let network = Ipv4Addr::from(u32::from(a) & mask);
            let canonical = format!("{network}/{len}");
            if network != a {
                return Err(CidrError::NotCanonical(canonical));
            }
            Ok(canonical)
        }
        Ok(IpAddr::V6(a)) => {
            if len > 128 {
                return Err(CidrError::Invalid(format!("an IPv6 prefix length is at most 128, not {len}")));
            }
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
            let network = Ipv6Addr::from(u128::from(a) & mask);
            let canonical = format!("{network}/{len}");
            if network != a {
                return Err(CidrError::NotCanonical(canonical));
            }
            Ok(canonical)
        }
        Err(_) => Err(CidrError::Invalid(format!("`{addr}` is not an IPv4 or IPv6 address"))),
    }
}

/// True for the CIDRs that cover every address of their family.
pub fn is_whole_internet(canonical: &str) -> bool {
    canonical == "0.0.0.0/0" || canonical == "::/0"
}

/// A host to expose: a lower-case DNS-1123 subdomain with an optional leading `*.`.
/// Returns whether it is a wildcard.
pub fn host(s: &str) -> Result<bool, String> {
    if s.parse::<IpAddr>().is_ok() {
        return Err("an ingress host is a DNS name, not an IP address".into());
    }
    let (wildcard, rest) = match s.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if rest.contains('*') {
        return Err("`*` is only allowed as the whole first part (`*.example.com`)".into());
    }
    if rest.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("hosts are lower case: write `{}`", s.to_ascii_lowercase()));
    }
    dns1123_subdomain(rest)?;
    Ok(wildcard)
}

/// A path as written in `paths`: `/x` (exact), `/x/*` (prefix), `/*` (everything).
pub fn path(s: &str) -> Result<(), String> {
    if !s.starts_with('/') {
        return Err("a path starts with `/`".into());
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || matches!(c, '?' | '#')) {
        let shown = if c.is_whitespace() { "whitespace".to_string() } else { format!("`{c}`") };
        return Err(format!("a path may not contain {shown} (query strings and fragments are not matched)"));
    }
    if s.contains("//") {
        return Err("a path may not contain `//`".into());
    }
    let stars = s.matches('*').count();
    if stars > 1 || (stars == 1 && !s.ends_with("/*")) {
        return Err("`*` is only allowed as the whole last part (`/x/*` matches `/x` and below)".into());
    }
    Ok(())
}

/// An HTTP method. On error, the help to show (the upper-case spelling when known).
pub fn method(s: &str) -> Result<(), (String, Option<String>)> {
    if METHODS.contains(&s) {
        return Ok(());
    }
    let upper = s.to_ascii_uppercase();
    if METHODS.contains(&upper.as_str()) {
        return Err(("methods are written in upper case".into(), Some(format!("write `{upper}`"))));
    }
    Err((format!("`{s}` is not an HTTP method"), Some(format!("use one of {}", METHODS.join(", ")))))
}

/// An `auth url`: an absolute `https://` URL with a host and no whitespace.
pub fn auth_url(s: &str) -> Result<(), String> {
    if s.chars().any(char::is_whitespace) {
        return Err("the URL contains whitespace".into());
    }
    let Some(rest) = s.strip_prefix("https://") else {
        return Err("the URL must start with `https://` (credentials never travel in plain text)".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err("the URL has no host".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_names() {
        assert!(dns1123_label("shop").is_ok());
        assert!(dns1123_label("Shop").is_err());
        assert!(dns1123_label("-a").is_err());
        assert!(dns1123_label(&"a".repeat(64)).is_err());
        assert!(dns1123_subdomain("a.b-c.d").is_ok());
        assert!(dns1123_subdomain("a..b").is_err());
        assert!(dns1035_label("1abc").is_err());
        assert!(dns1035_label("abc1").is_ok());
    }

    #[test]
    fn port_names_follow_iana() {
        assert!(port_name("http").is_ok());
        assert!(port_name("dns-tcp").is_ok());
        assert!(port_name("8080").is_err(), "needs a letter");
        assert!(port_name("a--b").is_err());
        assert!(port_name("abcdefghijklmnop").is_err(), "16 characters");
    }

    #[test]
    fn port_specs() {
        assert_eq!(port_spec("8080/http"), Ok((8080, Protocol::Http)));
        assert_eq!(port_spec("53/udp"), Ok((53, Protocol::Udp)));
        assert!(matches!(port_spec("0/tcp"), Err(PortSpecError::OutOfRange { .. })));
        assert!(matches!(port_spec("70000/tcp"), Err(PortSpecError::OutOfRange { .. })));
        assert!(matches!(port_spec("99999999999999999999/tcp"), Err(PortSpecError::OutOfRange { .. })));
        assert_eq!(port_spec("80/sctp"), Err(PortSpecError::UnknownProtocol { protocol: "sctp".into(), at: 3..7 }));
        assert_eq!(port_spec("http"), Err(PortSpecError::Malformed));
    }

    #[test]
    fn labels() {
        assert!(label_pair("app.kubernetes.io/name=web").is_ok());
        assert!(label_pair("app=").is_ok(), "empty values are legal");
        assert!(label_pair("app").is_err());
        let long = format!("app={}", "a".repeat(64));
        assert!(label_pair(&long).unwrap_err().contains("limit is 63"));
        assert!(label_pair("Bad_Prefix/app=x").is_err());
        assert!(label_pair("app=-x").is_err());
    }

    #[test]
    fn cidrs_are_canonical() {
        assert_eq!(cidr("203.0.113.0/24"), Ok("203.0.113.0/24".into()));
        assert_eq!(cidr("203.0.113.7/24"), Err(CidrError::NotCanonical("203.0.113.0/24".into())));
        assert_eq!(cidr("2001:DB8::/32"), Ok("2001:db8::/32".into()));
        assert!(matches!(cidr("10.0.0.0/33"), Err(CidrError::Invalid(_))));
        assert_eq!(cidr("10.0.0.1"), Err(CidrError::NotCanonical("10.0.0.1/32".into())));
        assert!(is_whole_internet(&cidr("0.0.0.0/0").unwrap()));
        assert!(is_whole_internet(&cidr("::/0").unwrap()));
    }

    #[test]
    fn hosts_paths_methods_urls() {
        assert_eq!(host("shop.example.com"), Ok(false));
        assert_eq!(host("*.example.com"), Ok(true));
        assert!(host("10.0.0.1").is_err());
        assert!(host("Shop.example.com").is_err());
        assert!(host("a.*.com").is_err());
        assert!(path("/api/*").is_ok());
        assert!(path("/*").is_ok());
        assert!(path("/a*").is_err());
        assert!(path("/a/*/b").is_err());
        assert!(path("api").is_err());
        assert!(path("/a?b").is_err());
        assert!(path("/a//b").is_err());
        assert!(method("GET").is_ok());
        assert_eq!(method("get").unwrap_err().1, Some("write `GET`".into()));
        assert!(method("FETCH").is_err());
        assert!(auth_url("https://auth.example.com/verify").is_ok());
        assert!(auth_url("http://auth.example.com").is_err());
        assert!(auth_url("https:///x").is_err());
    }
}
