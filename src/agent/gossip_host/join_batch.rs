//! One join through several addresses (`node join A B`, `--join`, the
//! rejoin after a restart): the push/pull to each address either answers or
//! fails, and the batch is finished when every address has.

use std::path::Path;

use crate::wire::gossip_message::JoinRefusal;

/// Names a batch so its outcome finds whoever started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JoinBatchId(pub u64);

/// What `node join` reports: how many addresses answered, and why each
/// other one failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinOutcome {
    pub contacted: u32,
    pub errors: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct JoinBatch {
    outstanding: usize,
    outcome: JoinOutcome,
}

impl JoinBatch {
    pub fn new(addresses: usize) -> Self {
        JoinBatch {
            outstanding: addresses,
            outcome: JoinOutcome::default(),
        }
    }

    /// Records one address's answer; an address is settled exactly once.
    pub fn settle(&mut self, address: &str, result: Result<(), String>) {
        assert!(self.outstanding > 0, "join batch settled more than once");
        self.outstanding -= 1;
        match result {
            Ok(()) => self.outcome.contacted += 1,
            Err(error) => self.outcome.errors.push((address.to_owned(), error)),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.outstanding == 0
    }

    pub fn into_outcome(self) -> JoinOutcome {
        self.outcome
    }
}

/// The operator's text for a refused join. A cluster-ID mismatch almost
/// always means a server was started with `--bootstrap` a second time and
/// formed a cluster of its own; the text says how to undo that.
pub fn refusal_text(refusal: &JoinRefusal, data_dir: &Path) -> String {
    match refusal {
        JoinRefusal::ClusterIdMismatch { ours, theirs } => format!(
            "{refusal}. One of the two servers bootstrapped a second cluster by mistake \
             (cluster {ours:032x} vs {theirs:032x}): stop that agent, remove the raft/ folder \
             from its data directory (here: {}), and start it again without --bootstrap so it \
             joins the existing cluster",
            data_dir.join("raft").display()
        ),
        JoinRefusal::NameConflict { .. } => refusal.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_finishes_when_every_address_has_answered_or_failed() {
        let mut batch = JoinBatch::new(2);
        batch.settle("a", Ok(()));
        assert!(!batch.is_finished());
        batch.settle("b", Err("refused".into()));
        assert!(batch.is_finished());
        assert_eq!(
            batch.into_outcome(),
            JoinOutcome {
                contacted: 1,
                errors: vec![("b".into(), "refused".into())]
            }
        );
    }

    #[test]
    fn cluster_id_refusal_names_both_ids_and_the_fix() {
        let text = refusal_text(
            &JoinRefusal::ClusterIdMismatch {
                ours: 0xaa,
                theirs: 0xbb,
            },
            Path::new("/var/node"),
        );
        assert!(text.contains(&format!("{:032x}", 0xaa)));
        assert!(text.contains(&format!("{:032x}", 0xbb)));
        assert!(text.contains("/var/node/raft"));
        assert!(text.contains("without --bootstrap"));
    }
}
