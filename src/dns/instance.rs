//! A service instance as the catalog hands it to the DNS interface, and the
//! choice of which instances an answer lists, in which order.

use crate::deterministic_rng::SplitMix64;

use super::config::DnsConfig;

/// The aggregated status of an instance's checks (node and service).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceHealth {
    Passing,
    Warning,
    Critical,
}

/// One registered instance of a service on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsInstance {
    pub node: String,
    pub node_address: String,
    /// Empty when the service has no address of its own.
    pub service_address: String,
    pub port: u16,
    pub tags: Vec<String>,
    /// The SRV weight while passing (Consul's `Weights.Passing`, default 1).
    pub weight_passing: u32,
    /// The SRV weight while warning (Consul's `Weights.Warning`, default 1).
    pub weight_warning: u32,
    pub status: InstanceHealth,
}

impl DnsInstance {
    /// The SRV weight for the instance's status, clamped to the field's range.
    pub(crate) fn srv_weight(&self) -> u16 {
        let weight = match self.status {
            InstanceHealth::Passing => self.weight_passing,
            InstanceHealth::Warning => self.weight_warning,
            InstanceHealth::Critical => 0,
        };
        u16::try_from(weight).unwrap_or(u16::MAX)
    }

    fn is_served(&self, config: &DnsConfig) -> bool {
        match self.status {
            InstanceHealth::Passing => true,
            InstanceHealth::Warning => !config.only_passing,
            InstanceHealth::Critical => false,
        }
    }

    /// Tags match case-insensitively, as Consul's tag filter does.
    fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|have| have.eq_ignore_ascii_case(tag))
    }
}

/// The instances an answer may list: healthy enough, carrying the tag if
/// one was asked for, shuffled by the seed (Consul shuffles every answer so
/// clients spread their load).
pub(crate) fn select_instances<'a>(
    instances: &'a [DnsInstance],
    tag: Option<&str>,
    shuffle_seed: u64,
    config: &DnsConfig,
) -> Vec<&'a DnsInstance> {
    let mut chosen: Vec<&DnsInstance> = instances
        .iter()
        .filter(|instance| instance.is_served(config))
        .filter(|instance| tag.is_none_or(|tag| instance.has_tag(tag)))
        .collect();
    SplitMix64::new(shuffle_seed).shuffle(&mut chosen);
    chosen
}
