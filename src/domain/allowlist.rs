//! The addresses a key may be used from: IPv4 and IPv6 addresses and CIDR ranges.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::domain::validation::ValidationError;

/// The most addresses and ranges one key may list.
pub const MAX_ALLOWLIST_ENTRIES: usize = 100;

/// The label of the field, as forms show it and as errors name it.
pub const ALLOWLIST_FIELD: &str = "Allowed IP addresses";

/// The addresses and CIDR ranges a key may be used from; empty means any address.
///
/// Entries are kept in the order they were first given, without duplicates. A bare
/// address is a range of one (`/32` or `/128`) and is written without its prefix. An
/// IPv4-mapped IPv6 entry (`::ffff:203.0.113.0/120`) is stored as the IPv4 range it
/// names, so each range has one spelling. A range with bits set after its prefix
/// (`203.0.113.5/24`) is refused rather than widened: whoever typed it may have meant the
/// one address, and silently allowing 255 others would be the wrong guess.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowlist(Vec<IpNet>);

impl IpAllowlist {
    /// Parses a list as typed in a form: entries separated by commas, spaces or new lines.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::parse_entries(Self::split(raw))
    }

    /// The entries of a list as typed in a form (separated by commas, spaces or new
    /// lines), not yet parsed.
    pub fn split(raw: &str) -> Vec<String> {
        raw.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|entry| !entry.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Parses entries given one by one (the API's array, the CLI's repeated flag): each
    /// must be one address or range. A blank one is refused, not skipped: `[""]` or an
    /// unset shell variable after `--allow-ip` would otherwise lift the restriction
    /// without a word (an empty list, or `--allow-any-ip`, says that on purpose).
    pub fn parse_entries<I, S>(entries: I) -> Result<Self, ValidationError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut nets: Vec<IpNet> = Vec::new();
        for entry in entries {
            let entry = entry.as_ref().trim();
            if entry.is_empty() {
                return Err(ValidationError::Invalid {
                    field: ALLOWLIST_FIELD,
                    reason: "list addresses or ranges, not blank entries; an empty list allows any address",
                });
            }
            let net = parse_entry(entry)?;
            if !nets.contains(&net) {
                if nets.len() == MAX_ALLOWLIST_ENTRIES {
                    return Err(ValidationError::Invalid {
                        field: ALLOWLIST_FIELD,
                        reason: "list at most 100 addresses or ranges; cover neighbours with a CIDR range such as 203.0.113.0/24",
                    });
                }
                nets.push(net);
            }
        }
        Ok(Self(nets))
    }

    /// Reads the stored form (entries separated by spaces).
    pub fn from_stored(stored: &str) -> Result<Self, ValidationError> {
        Self::parse_entries(stored.split_whitespace())
    }

    /// The stored form: the canonical entries separated by spaces; empty for any address.
    pub fn to_stored(&self) -> String {
        self.entries().join(" ")
    }

    /// The entries in their canonical spelling.
    pub fn entries(&self) -> Vec<String> {
        self.0.iter().map(|net| spell(*net)).collect()
    }

    /// True when the list is empty: the key may be used from any address.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when a request from `address` may use the key. An IPv4-mapped IPv6 address
    /// is the IPv4 address it carries, so either spelling of the client matches either
    /// spelling of an entry.
    pub fn allows(&self, address: IpAddr) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let address = address.to_canonical();
        let mapped = match address {
            IpAddr::V4(v4) => Some(IpAddr::V6(v4.to_ipv6_mapped())),
            IpAddr::V6(_) => None,
        };
        self.0
            .iter()
            .any(|net| net.contains(&address) || mapped.is_some_and(|mapped| net.contains(&mapped)))
    }
}

impl TryFrom<String> for IpAllowlist {
    type Error = ValidationError;

    fn try_from(stored: String) -> Result<Self, ValidationError> {
        Self::from_stored(&stored)
    }
}

impl std::fmt::Display for IpAllowlist {
    /// The entries separated by commas, as history and support show them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.entries().join(", "))
    }
}

fn parse_entry(entry: &str) -> Result<IpNet, ValidationError> {
    let refused = |reason: String| ValidationError::IpEntry {
        field: ALLOWLIST_FIELD,
        entry: shown(entry),
        reason,
    };
    let net = if entry.contains('/') {
        let net: IpNet = entry.parse().map_err(|_| {
            refused("is not an IPv4 or IPv6 address or CIDR range (such as 203.0.113.0/24)".to_owned())
        })?;
        if net.network() != net.addr() {
            return Err(refused(format!(
                "has bits set after its prefix: write the range as {}, or {} alone for that one address",
                net.trunc(),
                net.addr()
            )));
        }
        net
    } else {
        let address: IpAddr = entry.parse().map_err(|_| {
            refused("is not an IPv4 or IPv6 address or CIDR range (such as 203.0.113.0/24)".to_owned())
        })?;
        IpNet::from(address)
    };
    Ok(unmapped(net))
}

/// An IPv4-mapped IPv6 range of at least 96 bits of prefix is the IPv4 range it names.
fn unmapped(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && v6.prefix_len() >= 96
        && let Ok(net) = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(net);
    }
    net
}

fn spell(net: IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// The entry as an error may repeat it: short, and with nothing that hides or moves text.
fn shown(entry: &str) -> String {
    entry
        .chars()
        .take(60)
        .map(|c| {
            if c.is_control() || crate::domain::is_bidi_control(c) {
                '?'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn typed_lists_are_split_on_commas_spaces_and_new_lines_and_kept_canonical() {
        let list = IpAllowlist::parse(
            "203.0.113.0/24,  198.51.100.7\n2001:DB8::/32\r\n\n203.0.113.0/24, 198.51.100.7/32",
        )
        .unwrap();
        assert_eq!(
            list.entries(),
            ["203.0.113.0/24", "198.51.100.7", "2001:db8::/32"]
        );
        assert_eq!(list.to_stored(), "203.0.113.0/24 198.51.100.7 2001:db8::/32");
        assert_eq!(IpAllowlist::from_stored(&list.to_stored()).unwrap(), list);
        assert!(IpAllowlist::parse(" \n, ").unwrap().is_empty());
        assert_eq!(IpAllowlist::from_stored("").unwrap(), IpAllowlist::default());
    }

    #[test]
    fn a_blank_entry_given_one_by_one_is_refused_rather_than_lifting_the_list() {
        for entries in [vec![""], vec![" ", "\t"], vec!["203.0.113.9", ""]] {
            assert!(IpAllowlist::parse_entries(&entries).is_err(), "{entries:?}");
        }
        assert!(
            IpAllowlist::parse_entries(Vec::<String>::new())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn an_empty_list_allows_any_address() {
        let any = IpAllowlist::default();
        assert!(any.allows(ip("203.0.113.9")));
        assert!(any.allows(ip("2001:db8::1")));
    }

    #[test]
    fn addresses_and_ranges_allow_what_they_cover_and_nothing_else() {
        let list = IpAllowlist::parse("203.0.113.0/24 198.51.100.7 2001:db8::/32").unwrap();
        assert!(list.allows(ip("203.0.113.0")));
        assert!(list.allows(ip("203.0.113.255")));
        assert!(!list.allows(ip("203.0.114.0")));
        assert!(list.allows(ip("198.51.100.7")));
        assert!(!list.allows(ip("198.51.100.8")));
        assert!(list.allows(ip("2001:db8:ffff::1")));
        assert!(!list.allows(ip("2001:db9::1")));
        let host = IpAllowlist::parse("2001:db8::7").unwrap();
        assert_eq!(host.entries(), ["2001:db8::7"]);
        assert!(host.allows(ip("2001:db8::7")));
        assert!(!host.allows(ip("2001:db8::8")));
    }

    #[test]
    fn ipv4_mapped_ipv6_is_the_ipv4_address_both_ways() {
        let v4 = IpAllowlist::parse("203.0.113.0/24").unwrap();
        assert!(v4.allows(ip("::ffff:203.0.113.9")));
        assert!(!v4.allows(ip("::ffff:203.0.114.9")));
        let mapped = IpAllowlist::parse("::ffff:203.0.113.0/120").unwrap();
        assert_eq!(mapped.entries(), ["203.0.113.0/24"]);
        assert!(mapped.allows(ip("203.0.113.9")));
        assert!(mapped.allows(ip("::ffff:203.0.113.9")));
        let mapped_host = IpAllowlist::parse("::ffff:198.51.100.7").unwrap();
        assert_eq!(mapped_host.entries(), ["198.51.100.7"]);
        assert!(mapped_host.allows(ip("198.51.100.7")));
        assert!(!mapped_host.allows(ip("198.51.100.8")));
    }

    #[test]
    fn zero_prefixes_allow_every_address_of_their_family() {
        let v4 = IpAllowlist::parse("0.0.0.0/0").unwrap();
        assert!(v4.allows(ip("203.0.113.9")));
        assert!(v4.allows(ip("::ffff:203.0.113.9")));
        assert!(!v4.allows(ip("2001:db8::1")));
        let v6 = IpAllowlist::parse("::/0").unwrap();
        assert!(v6.allows(ip("2001:db8::1")));
        assert!(v6.allows(ip("203.0.113.9")), "as ::ffff:203.0.113.9");
    }

    #[test]
    fn at_most_one_hundred_entries_duplicates_not_counted() {
        let hundred: Vec<String> = (0..100).map(|n| format!("10.0.0.{n}")).collect();
        assert_eq!(IpAllowlist::parse_entries(&hundred).unwrap().entries().len(), 100);
        let mut doubled = hundred.clone();
        doubled.extend(hundred.iter().map(|entry| format!("{entry}/32")));
        assert_eq!(IpAllowlist::parse_entries(&doubled).unwrap().entries().len(), 100);
        let mut too_many = hundred;
        too_many.push("10.0.1.0".to_owned());
        let err = IpAllowlist::parse_entries(&too_many).unwrap_err();
        assert_eq!(err.field(), ALLOWLIST_FIELD);
        assert!(err.to_string().contains("at most 100"), "{err}");
    }

    #[test]
    fn a_bad_entry_is_refused_by_name() {
        for bad in [
            "203.0.113",
            "example.com",
            "203.0.113.0/33",
            "2001:db8::/129",
            "fe80::1%eth0",
            "1.2.3.4/",
        ] {
            let err = IpAllowlist::parse(&format!("198.51.100.7, {bad}")).unwrap_err();
            assert_eq!(err.field(), ALLOWLIST_FIELD);
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
        let err = IpAllowlist::parse_entries(["198.51.100.7, 203.0.113.9"]).unwrap_err();
        assert!(err.to_string().contains("`198.51.100.7, 203.0.113.9`"), "{err}");
    }

    #[test]
    fn a_range_with_host_bits_is_refused_with_both_readings_offered() {
        let err = IpAllowlist::parse("203.0.113.5/24").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("`203.0.113.5/24`"), "{message}");
        assert!(message.contains("203.0.113.0/24"), "{message}");
        assert!(message.contains("203.0.113.5 alone"), "{message}");
        assert!(IpAllowlist::parse("2001:db8::1/32").is_err());
        assert!(IpAllowlist::parse("203.0.113.5/32").is_ok());
    }
}
