//! Gossip tunables, with memberlist's LAN defaults, and the figures derived
//! from them and the cluster size.

use crate::wire::gossip_message::Tags;

#[derive(Debug, Clone)]
pub struct GossipConfig {
    /// Unique member name.
    pub name: String,
    /// `IP:PORT`; gossip uses UDP on the agent's TCP port.
    pub address: String,
    pub tags: Tags,
    /// One member is probed per interval.
    pub probe_interval_ms: u64,
    /// How long a direct ping waits for its ack before indirect probes.
    pub probe_timeout_ms: u64,
    /// Members asked to probe indirectly (SWIM's k).
    pub indirect_checks: usize,
    /// Suspicion minimum = `suspicion_mult * max(1, log10 N) * probe_interval`.
    pub suspicion_mult: u32,
    /// Suspicion maximum = this times the minimum.
    pub suspicion_max_timeout_mult: u32,
    /// Each broadcast is sent `retransmit_mult * ceil(log10(N + 1))` times.
    pub retransmit_mult: u32,
    /// Anti-entropy full state exchange period (scaled up past 32 members).
    pub push_pull_interval_ms: u64,
    /// How often queued broadcasts are gossiped to `gossip_nodes` members.
    pub gossip_interval_ms: u64,
    pub gossip_nodes: usize,
    /// Dead members still receive gossip this long, so a falsely accused one
    /// learns of it and refutes.
    pub gossip_to_the_dead_ms: u64,
    /// Upper bound on the local health multiplier (Lifeguard).
    pub awareness_max_multiplier: u32,
    /// How long a graceful leave waits for its broadcast to spread.
    pub leave_propagate_ms: u64,
    /// A left member is forgotten this long after it left.
    pub reap_left_ms: u64,
    /// A dead member is forgotten this long after it was declared dead.
    pub reap_dead_ms: u64,
    /// Bound on queued broadcasts.
    pub max_queued_broadcasts: usize,
    /// Bound on indirect probes we run for others at once.
    pub max_pending_relays: usize,
    /// Bound on the member table: past it, new names are not learned, so
    /// a peer inventing names cannot exhaust our memory.
    pub max_members: usize,
}

impl GossipConfig {
    /// memberlist's `DefaultLANConfig` timings; serf's reap timeouts.
    pub fn lan(name: &str, address: &str, tags: Tags) -> Self {
        GossipConfig {
            name: name.to_owned(),
            address: address.to_owned(),
            tags,
            probe_interval_ms: 1000,
            probe_timeout_ms: 500,
            indirect_checks: 3,
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            retransmit_mult: 4,
            push_pull_interval_ms: 30_000,
            gossip_interval_ms: 200,
            gossip_nodes: 3,
            gossip_to_the_dead_ms: 30_000,
            awareness_max_multiplier: 8,
            leave_propagate_ms: 5_000,
            reap_left_ms: 24 * 3600 * 1000,
            reap_dead_ms: 72 * 3600 * 1000,
            max_queued_broadcasts: 4096,
            max_pending_relays: 1024,
            max_members: 16_384,
        }
    }

    /// `suspicion_mult * max(1, log10 N) * probe_interval`.
    pub fn suspicion_min_ms(&self, members: usize) -> u64 {
        let node_scale = (members.max(1) as f64).log10().max(1.0);
        (f64::from(self.suspicion_mult) * node_scale * self.probe_interval_ms as f64) as u64
    }

    pub fn suspicion_max_ms(&self, members: usize) -> u64 {
        self.suspicion_min_ms(members) * u64::from(self.suspicion_max_timeout_mult)
    }

    /// `retransmit_mult * ceil(log10(N + 1))`.
    pub fn retransmit_limit(&self, members: usize) -> u32 {
        let node_scale = ((members + 1) as f64).log10().ceil() as u32;
        self.retransmit_mult * node_scale.max(1)
    }

    /// memberlist's pushPullScale: past 32 members the period grows with
    /// log2(N / 32) so full-state traffic stays bounded as the cluster grows.
    pub fn push_pull_period_ms(&self, members: usize) -> u64 {
        const SCALE_THRESHOLD: usize = 32;
        if members <= SCALE_THRESHOLD {
            return self.push_pull_interval_ms;
        }
        let multiplier =
            ((members as f64).log2() - (SCALE_THRESHOLD as f64).log2()).ceil() as u64 + 1;
        self.push_pull_interval_ms * multiplier
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::gossip_message::Role;

    fn config() -> GossipConfig {
        GossipConfig::lan(
            "a",
            "127.0.0.1:8300",
            Tags {
                role: Role::Client,
                datacenter: "dc1".into(),
                cluster_id: 0,
                build_version: "0".into(),
                protocol_version: 1,
            },
        )
    }

    #[test]
    fn suspicion_bounds_follow_memberlist() {
        let c = config();
        assert_eq!(c.suspicion_min_ms(3), 4000);
        assert_eq!(c.suspicion_min_ms(100), 8000);
        assert_eq!(c.suspicion_max_ms(100), 48000);
    }

    #[test]
    fn retransmit_limit_grows_with_log_of_size() {
        let c = config();
        assert_eq!(c.retransmit_limit(9), 4);
        assert_eq!(c.retransmit_limit(10), 8);
        assert_eq!(c.retransmit_limit(500), 12);
    }

    #[test]
    fn push_pull_period_scales_past_32_members() {
        let c = config();
        assert_eq!(c.push_pull_period_ms(32), 30_000);
        assert_eq!(c.push_pull_period_ms(64), 60_000);
    }
}
