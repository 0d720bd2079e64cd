//! Exactly-once writes (Raft dissertation §6.3): the state machine keeps,
//! per client session, the answers of the writes it applied and the client
//! has not acknowledged, so a retried write is answered with its original
//! result instead of being applied twice.
//!
//! Rules, identical on every server because they read only the log:
//! - a session is opened by a `RegisterClient` entry; its id is that
//!   entry's log index, so ids are never reused;
//! - a write names (client id, sequence, first unacknowledged); answers for
//!   sequences below the acknowledgement are forgotten, and a write with
//!   such a sequence is refused (its answer was delivered already);
//! - a sequence already answered gets the kept answer and is not applied;
//! - a write for a session this state does not hold (never opened, idle
//!   past [`CLIENT_SESSION_IDLE_TIMEOUT_MS`] of log time, or evicted) is
//!   refused as expired and not applied: the state cannot tell whether it
//!   was applied before, so it must not apply it now.
//!
//! Bounded: at most [`MAX_CLIENT_SESSIONS`] sessions (the least recently
//! active is evicted), [`MAX_UNACKNOWLEDGED_ANSWERS_PER_CLIENT`] answers a
//! session, answers over [`MAX_RETAINED_ANSWER_BYTES`] kept as a marker,
//! and [`MAX_RETAINED_ANSWERS_BYTES_TOTAL`] over all sessions (the least
//! recently active sessions are evicted past it).

use imbl::OrdMap;

use crate::state_machine::answer_codec::encoded_answer_len;
use crate::state_machine::apply_result::{ApplyResult, CommandRejection};
use crate::wire::command::ClientSequence;

/// Log time a session may stay idle before it expires. An agent that
/// writes at least once an hour never has to re-register; one that went
/// quiet costs one extra round trip (register, resend).
pub const CLIENT_SESSION_IDLE_TIMEOUT_MS: u64 = 60 * 60 * 1000;
/// Sessions held at once: one per agent (or per agent write lane) for a few
/// thousand agents. The least recently active is evicted past it.
pub const MAX_CLIENT_SESSIONS: usize = 4096;
/// Answers one session may hold unacknowledged: the most writes an agent
/// may pipeline in one session. Past it a write is refused, not applied.
pub const MAX_UNACKNOWLEDGED_ANSWERS_PER_CLIENT: usize = 256;
/// An answer over this size (a transaction's get results) is kept as
/// [`ApplyResult::ResultNotRetained`]: the duplicate is still not applied.
pub const MAX_RETAINED_ANSWER_BYTES: usize = 16 * 1024;
/// Encoded answer bytes held over all sessions; the least recently active
/// sessions are evicted past it. 32 MiB keeps the table a small part of a
/// snapshot however clients behave.
pub const MAX_RETAINED_ANSWERS_BYTES_TOTAL: usize = 32 * 1024 * 1024;

/// One client's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSession {
    /// Log index of the session's latest entry (its registration at first).
    pub last_active_index: u64,
    /// Log time of that entry.
    pub last_active_ms: u64,
    /// Answers below this sequence were acknowledged and forgotten.
    pub first_unacknowledged: u64,
    /// Answers of applied writes at or above `first_unacknowledged`.
    pub answers: OrdMap<u64, ApplyResult>,
    retained_bytes: usize,
}

impl ClientSession {
    pub(crate) fn new(
        last_active_index: u64,
        last_active_ms: u64,
        first_unacknowledged: u64,
        answers: OrdMap<u64, ApplyResult>,
    ) -> ClientSession {
        let retained_bytes = answers.values().map(encoded_answer_len).sum();
        ClientSession {
            last_active_index,
            last_active_ms,
            first_unacknowledged,
            answers,
            retained_bytes,
        }
    }
}

/// What to do with a write that names a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Apply it, then [`ClientSessions::retain`] its answer.
    Fresh,
    /// Already applied: answer this, apply nothing.
    Duplicate(ApplyResult),
    /// Do not apply it.
    Refused(CommandRejection),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSessions {
    sessions: OrdMap<u64, ClientSession>,
    /// Session ids by `last_active_index`, least recently active first: the
    /// order of both expiry (log time only grows with the index) and
    /// eviction.
    by_activity: OrdMap<u64, u64>,
    retained_bytes: usize,
}

impl ClientSessions {
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn get(&self, client_id: u64) -> Option<&ClientSession> {
        self.sessions.get(&client_id)
    }

    /// Every session by id, for snapshots.
    pub fn iter(&self) -> impl Iterator<Item = (&u64, &ClientSession)> {
        self.sessions.iter()
    }

    /// Drops the sessions idle for [`CLIENT_SESSION_IDLE_TIMEOUT_MS`] or more
    /// of log time at `now_ms`.
    pub fn expire_idle(&mut self, now_ms: u64) {
        while let Some((_, client_id)) = self.by_activity.get_min().map(|(i, c)| (*i, *c)) {
            let session = self
                .sessions
                .get(&client_id)
                .expect("by_activity names held sessions");
            let idle_ms = now_ms.saturating_sub(session.last_active_ms);
            if idle_ms < CLIENT_SESSION_IDLE_TIMEOUT_MS {
                break;
            }
            self.remove(client_id);
        }
    }

    /// Opens the session `client_id` (the registration's log index).
    pub fn register(&mut self, client_id: u64, now_ms: u64) {
        assert!(
            !self.sessions.contains_key(&client_id),
            "session ids are log indexes, never reused: {client_id}"
        );
        let session = ClientSession::new(client_id, now_ms, 0, OrdMap::new());
        self.sessions.insert(client_id, session);
        self.by_activity.insert(client_id, client_id);
        while self.sessions.len() > MAX_CLIENT_SESSIONS {
            self.evict_least_recent(client_id);
        }
    }

    /// Decides whether the write at `index` (log time `now_ms`) for
    /// `client` is applied; marks the session active and applies its
    /// acknowledgement whenever the session exists.
    pub fn admit(&mut self, index: u64, now_ms: u64, client: &ClientSequence) -> Admission {
        let ClientSequence {
            client_id,
            sequence,
            first_unacknowledged,
        } = *client;
        let Some(mut session) = self.sessions.get(&client_id).cloned() else {
            return Admission::Refused(CommandRejection::SessionExpired { client_id });
        };
        self.by_activity.remove(&session.last_active_index);
        session.last_active_index = index;
        session.last_active_ms = now_ms;
        self.by_activity.insert(index, client_id);
        let admission = if first_unacknowledged > sequence {
            Admission::Refused(CommandRejection::AcknowledgementAhead {
                client_id,
                sequence,
                first_unacknowledged,
            })
        } else {
            self.acknowledge(&mut session, first_unacknowledged);
            if sequence < session.first_unacknowledged {
                Admission::Refused(CommandRejection::SequenceAcknowledged {
                    client_id,
                    sequence,
                    first_unacknowledged: session.first_unacknowledged,
                })
            } else if let Some(answer) = session.answers.get(&sequence) {
                Admission::Duplicate(answer.clone())
            } else if session.answers.len() >= MAX_UNACKNOWLEDGED_ANSWERS_PER_CLIENT {
                Admission::Refused(CommandRejection::TooManyUnacknowledged {
                    client_id,
                    limit: MAX_UNACKNOWLEDGED_ANSWERS_PER_CLIENT,
                })
            } else {
                Admission::Fresh
            }
        };
        self.sessions.insert(client_id, session);
        admission
    }

    /// Keeps the answer of a write [`Admission::Fresh`] let through at
    /// `index`, then evicts least recently active sessions (never this
    /// one) while the table is over its byte budget.
    pub fn retain(&mut self, client: &ClientSequence, index: u64, result: &ApplyResult) {
        assert!(
            result.is_retainable(),
            "a fresh write's answer is retainable"
        );
        let mut answer = result.clone();
        let mut bytes = encoded_answer_len(&answer);
        if bytes > MAX_RETAINED_ANSWER_BYTES {
            answer = ApplyResult::ResultNotRetained {
                applied_index: index,
            };
            bytes = encoded_answer_len(&answer);
        }
        let session = self
            .sessions
            .get_mut(&client.client_id)
            .expect("retain follows a Fresh admission of the same entry");
        let previous = session.answers.insert(client.sequence, answer);
        assert!(previous.is_none(), "a sequence is answered once");
        session.retained_bytes += bytes;
        self.retained_bytes += bytes;
        while self.retained_bytes > MAX_RETAINED_ANSWERS_BYTES_TOTAL {
            self.evict_least_recent(client.client_id);
        }
    }

    /// Rebuilds the table from a snapshot's sessions (the codec checked
    /// each one). `None` when the sessions break a bound or share an
    /// activity index.
    pub(crate) fn from_restored(sessions: Vec<(u64, ClientSession)>) -> Option<ClientSessions> {
        let mut table = ClientSessions::default();
        if sessions.len() > MAX_CLIENT_SESSIONS {
            return None;
        }
        for (client_id, session) in sessions {
            let activity = session.last_active_index;
            if table.by_activity.insert(activity, client_id).is_some() {
                return None;
            }
            table.retained_bytes += session.retained_bytes;
            table.sessions.insert(client_id, session);
        }
        (table.retained_bytes <= MAX_RETAINED_ANSWERS_BYTES_TOTAL).then_some(table)
    }

    fn acknowledge(&mut self, session: &mut ClientSession, first_unacknowledged: u64) {
        if first_unacknowledged <= session.first_unacknowledged {
            return;
        }
        session.first_unacknowledged = first_unacknowledged;
        let forgotten: Vec<u64> = session
            .answers
            .range(..first_unacknowledged)
            .map(|(sequence, _)| *sequence)
            .collect();
        for sequence in forgotten {
            let answer = session.answers.remove(&sequence).expect("listed above");
            let bytes = encoded_answer_len(&answer);
            session.retained_bytes -= bytes;
            self.retained_bytes -= bytes;
        }
    }

    fn evict_least_recent(&mut self, keep: u64) {
        let victim = self
            .by_activity
            .values()
            .copied()
            .find(|&id| id != keep)
            .expect("a table over a bound holds a session besides the one kept");
        self.remove(victim);
    }

    fn remove(&mut self, client_id: u64) {
        let session = self
            .sessions
            .remove(&client_id)
            .expect("by_activity names held sessions");
        self.by_activity.remove(&session.last_active_index);
        self.retained_bytes -= session.retained_bytes;
    }
}
