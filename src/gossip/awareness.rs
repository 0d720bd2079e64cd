//! Local health awareness (Lifeguard §IV-A, memberlist's awareness.go): a
//! score that rises when our own probes go unanswered in a way that points at
//! us (missing nacks from helpers, having to refute a suspicion) and falls
//! with every successful probe. Probe intervals and timeouts are scaled by
//! `score + 1`, so a slow or overloaded node probes less aggressively instead
//! of accusing healthy peers.

#[derive(Debug, Clone)]
pub struct Awareness {
    score: u32,
    /// Scores range over `0..max_multiplier`.
    max_multiplier: u32,
}

impl Awareness {
    pub fn new(max_multiplier: u32) -> Self {
        assert!(
            max_multiplier >= 1,
            "awareness multiplier must be at least 1"
        );
        Awareness {
            score: 0,
            max_multiplier,
        }
    }

    pub fn apply_delta(&mut self, delta: i64) {
        let max_score = i64::from(self.max_multiplier - 1);
        let next = (i64::from(self.score) + delta).clamp(0, max_score);
        self.score = next as u32;
    }

    /// 0 is perfectly healthy; higher is worse.
    pub fn score(&self) -> u32 {
        self.score
    }

    pub fn scale_ms(&self, base_ms: u64) -> u64 {
        base_ms.saturating_mul(u64::from(self.score) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_is_clamped_to_multiplier_range() {
        let mut a = Awareness::new(8);
        a.apply_delta(-3);
        assert_eq!(a.score(), 0);
        a.apply_delta(100);
        assert_eq!(a.score(), 7);
        assert_eq!(a.scale_ms(1000), 8000);
    }
}
