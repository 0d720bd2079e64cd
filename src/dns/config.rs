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
    /// TTL of service records (Consul's `dns_config.service_ttl`, default 0).
    pub service_ttl_s: u32,
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
            only_passing: false,
            has_recursor: false,
        }
    }
}

impl DnsConfig {
    /// The domain's labels, lower-cased, without the root: `["consul"]`.
    pub(crate) fn domain_labels(&self) -> Vec<String> {
        self.domain
            .split('.')
            .filter(|label| !label.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    }
}
