//! The DNS interface's settings, as Consul's `dns_config` names them.

/// Settings of the DNS interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// The zone served, fully qualified (`--domain`, Consul's `domain`).
    pub domain: String,
    /// This agent's datacenter: the one answered for, and the one named in
    /// SRV targets when the query names none.
    pub datacenter: String,
    /// TTL of node records (Consul's `dns_config.node_ttl`, default 0).
    pub node_ttl_s: u32,
    /// TTL of service records whose name no entry of `service_ttls_s`
    /// matches (default 0).
    pub service_ttl_s: u32,
    /// Consul's `dns_config.service_ttl` map: a service name, or a prefix
    /// ending in `*` (`"*"` alone matches every name), and its TTL.
    pub service_ttls_s: Vec<(String, u32)>,
    /// Answer only instances whose checks all pass (`dns_config.only_passing`).
    pub only_passing: bool,
    /// Whether names outside the domain are forwarded to a recursor; it sets
    /// the RA bit as Consul does.
    pub has_recursor: bool,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            domain: "consul.".to_string(),
            datacenter: "dc1".to_string(),
            node_ttl_s: 0,
            service_ttl_s: 0,
            service_ttls_s: Vec::new(),
            only_passing: false,
            has_recursor: false,
        }
    }
}

impl DnsConfig {
    /// The TTL of `service`'s records, as Consul's `getServiceTTL` picks
    /// it: the entry naming it exactly, else the longest matching `*`
    /// prefix, else the default. Names match without case, as the catalog.
    pub(crate) fn service_ttl_s(&self, service: &str) -> u32 {
        let service = service.to_lowercase();
        let exact = self
            .service_ttls_s
            .iter()
            .find(|(name, _)| !name.ends_with('*') && name.to_lowercase() == service);
        if let Some((_, ttl_s)) = exact {
            return *ttl_s;
        }
        self.service_ttls_s
            .iter()
            .filter_map(|(name, ttl_s)| {
                let prefix = name.strip_suffix('*')?.to_lowercase();
                service
                    .starts_with(&prefix)
                    .then_some((prefix.len(), *ttl_s))
            })
            .max_by_key(|(prefix_len, _)| *prefix_len)
            .map_or(self.service_ttl_s, |(_, ttl_s)| ttl_s)
    }

    /// The domain's labels, lower-cased, without the root: `["consul"]`.
    pub(crate) fn domain_labels(&self) -> Vec<String> {
        self.domain
            .split('.')
            .filter(|label| !label.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_services_ttl_is_exact_then_longest_prefix_then_default() {
        let config = DnsConfig {
            service_ttl_s: 1,
            service_ttls_s: vec![
                ("*".into(), 5),
                ("web*".into(), 10),
                ("web-api*".into(), 20),
                ("web".into(), 30),
            ],
            ..DnsConfig::default()
        };
        assert_eq!(config.service_ttl_s("Web"), 30);
        assert_eq!(config.service_ttl_s("web-api-v2"), 20);
        assert_eq!(config.service_ttl_s("webapp"), 10);
        assert_eq!(config.service_ttl_s("db"), 5);
        let plain = DnsConfig {
            service_ttl_s: 1,
            ..DnsConfig::default()
        };
        assert_eq!(plain.service_ttl_s("db"), 1);
    }
}
