//! The order of one HTTP connection's answers. HTTP/1.1 lets a client send
//! request 2 before answer 1 arrives, but the answers must leave in request
//! order, whatever order the agent finishes them in (a local read before a
//! forwarded write, a blocking query before everything behind it). Each
//! request takes the next slot; an answer fills its slot; answers leave
//! from the front only once every one before them is there.

use std::collections::VecDeque;

pub use crate::http::limits::MAX_REQUESTS_IN_FLIGHT;

/// Where a request's answer goes in its connection's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot(u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequencerError {
    /// Every slot is taken.
    Full,
    /// A request that ends the connection was taken: nothing follows it.
    Ended,
    /// The slot was answered already, or never taken.
    UnknownSlot,
}

#[derive(Debug)]
pub struct ResponseSequencer<A> {
    /// Oldest first; `None` while the agent still owes that answer.
    slots: VecDeque<Option<A>>,
    /// The slot number of `slots[0]`.
    front: u64,
    capacity: usize,
    ended: bool,
}

impl<A> ResponseSequencer<A> {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "a sequencer needs room for one request");
        ResponseSequencer {
            slots: VecDeque::new(),
            front: 0,
            capacity,
            ended: false,
        }
    }

    /// The slot of the next request; `ends` when it is the connection's
    /// last (`Connection: close`).
    pub fn begin(&mut self, ends: bool) -> Result<Slot, SequencerError> {
        if self.ended {
            return Err(SequencerError::Ended);
        }
        if self.slots.len() >= self.capacity {
            return Err(SequencerError::Full);
        }
        self.ended = ends;
        self.slots.push_back(None);
        Ok(Slot(self.front + self.slots.len() as u64 - 1))
    }

    /// The answer for `slot`, in whatever order answers come.
    pub fn complete(&mut self, slot: Slot, answer: A) -> Result<(), SequencerError> {
        let index = slot
            .0
            .checked_sub(self.front)
            .and_then(|i| usize::try_from(i).ok())
            .ok_or(SequencerError::UnknownSlot)?;
        match self.slots.get_mut(index) {
            Some(entry @ None) => {
                *entry = Some(answer);
                Ok(())
            }
            _ => Err(SequencerError::UnknownSlot),
        }
    }

    /// The next answer to send, if it and every one before it are there.
    pub fn pop_ready(&mut self) -> Option<A> {
        if !matches!(self.slots.front(), Some(Some(_))) {
            return None;
        }
        self.front += 1;
        self.slots.pop_front().flatten()
    }

    /// Requests taken and not yet sent.
    pub fn in_flight(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(sequencer: &mut ResponseSequencer<&'static str>) -> Vec<&'static str> {
        std::iter::from_fn(|| sequencer.pop_ready()).collect()
    }

    #[test]
    fn answers_leave_in_request_order_whatever_order_they_complete_in() {
        let mut sequencer = ResponseSequencer::new(8);
        let slots: Vec<Slot> = (0..4).map(|_| sequencer.begin(false).unwrap()).collect();
        sequencer.complete(slots[2], "c").unwrap();
        sequencer.complete(slots[1], "b").unwrap();
        assert_eq!(
            drain(&mut sequencer),
            Vec::<&str>::new(),
            "the first is owed"
        );
        sequencer.complete(slots[0], "a").unwrap();
        assert_eq!(drain(&mut sequencer), ["a", "b", "c"]);
        assert_eq!(sequencer.in_flight(), 1);
        sequencer.complete(slots[3], "d").unwrap();
        assert_eq!(drain(&mut sequencer), ["d"]);
        assert_eq!(sequencer.in_flight(), 0);
    }

    #[test]
    fn a_held_answer_holds_back_everything_behind_it() {
        let mut sequencer = ResponseSequencer::new(8);
        let blocking = sequencer.begin(false).unwrap();
        let plain: Vec<Slot> = (0..5).map(|_| sequencer.begin(false).unwrap()).collect();
        for slot in plain {
            sequencer.complete(slot, "plain").unwrap();
        }
        assert_eq!(sequencer.pop_ready(), None);
        sequencer.complete(blocking, "woken").unwrap();
        assert_eq!(
            drain(&mut sequencer),
            ["woken", "plain", "plain", "plain", "plain", "plain"]
        );
    }

    #[test]
    fn the_bound_refuses_a_request_until_an_answer_leaves() {
        let mut sequencer = ResponseSequencer::new(3);
        let first = sequencer.begin(false).unwrap();
        sequencer.begin(false).unwrap();
        sequencer.begin(false).unwrap();
        assert_eq!(sequencer.begin(false), Err(SequencerError::Full));
        sequencer.complete(first, "a").unwrap();
        assert_eq!(
            sequencer.begin(false),
            Err(SequencerError::Full),
            "not sent yet"
        );
        assert_eq!(sequencer.pop_ready(), Some("a"));
        assert!(sequencer.begin(false).is_ok());
    }

    #[test]
    fn nothing_follows_a_request_that_closes_the_connection() {
        let mut sequencer = ResponseSequencer::new(8);
        let first = sequencer.begin(false).unwrap();
        let last = sequencer.begin(true).unwrap();
        assert_eq!(sequencer.begin(false), Err(SequencerError::Ended));
        sequencer.complete(last, "bye").unwrap();
        sequencer.complete(first, "a").unwrap();
        assert_eq!(drain(&mut sequencer), ["a", "bye"]);
        assert_eq!(sequencer.begin(false), Err(SequencerError::Ended));
    }

    #[test]
    fn a_slot_is_answered_once_and_unknown_slots_are_refused() {
        let mut sequencer = ResponseSequencer::new(8);
        let slot = sequencer.begin(false).unwrap();
        sequencer.complete(slot, "a").unwrap();
        assert_eq!(
            sequencer.complete(slot, "again"),
            Err(SequencerError::UnknownSlot)
        );
        assert_eq!(sequencer.pop_ready(), Some("a"));
        assert_eq!(
            sequencer.complete(slot, "late"),
            Err(SequencerError::UnknownSlot)
        );
        assert_eq!(
            sequencer.complete(Slot(99), "never"),
            Err(SequencerError::UnknownSlot)
        );
    }

    #[test]
    fn slot_numbers_keep_counting_across_a_long_connection() {
        let mut sequencer = ResponseSequencer::new(2);
        for round in 0..1000 {
            let a = sequencer.begin(false).unwrap();
            let b = sequencer.begin(false).unwrap();
            sequencer.complete(b, "b").unwrap();
            sequencer.complete(a, "a").unwrap();
            assert_eq!(drain(&mut sequencer), ["a", "b"], "round {round}");
        }
    }
}
