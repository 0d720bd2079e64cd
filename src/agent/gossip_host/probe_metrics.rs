//! What the gossip core's probe results add to the agent's metrics:
//! memberlist's `probeNode` timing for every finished probe, and a count
//! of the probes that failed and made their target suspect.

use crate::gossip::ProbeResult;

use crate::agent::metrics::Registry;
use crate::agent::metrics::names::{MEMBERLIST_MSG_SUSPECT, MEMBERLIST_PROBE_NODE};

pub(super) fn record(metrics: &mut Registry, probes: &[ProbeResult]) {
    for probe in probes {
        metrics.add_sample(MEMBERLIST_PROBE_NODE, &[], probe.duration_ms as f64);
        if !probe.acked {
            metrics.incr_counter(MEMBERLIST_MSG_SUSPECT, &[], 1.0);
        }
    }
}
