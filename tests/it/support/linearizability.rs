//! Linearizability checker for client histories of the replicated KV store.
//!
//! The design follows porcupine (Athalye), which implements the WGL search
//! (Wing & Gong 1993, with Lowe's memoization from "Testing for
//! linearizability", 2017) plus P-compositionality (Horn & Kroening 2015):
//!
//! - Linearizability is local (Herlihy & Wing 1990, Theorem 1): a history is
//!   linearizable iff its restriction to every object is. Each key is an
//!   independent register, so the history is split per key and every key is
//!   searched on its own. That turns one search over the product of all
//!   states into many small searches.
//! - Within a key, calls and returns are sorted by time into a doubly linked
//!   list. The search repeatedly takes a call that precedes the first
//!   remaining return (so real-time order is respected), applies it to the
//!   sequential register if the register accepts the observed output, and
//!   unlinks both its entries. Reaching a return whose call is still in the
//!   list means no remaining candidate can go next: backtrack.
//! - A set of (linearized operations, register state) pairs already reached
//!   prunes the search: from the same pair the same futures are possible, so
//!   revisiting it cannot find anything new.
//!
//! Two reductions beyond porcupine, each argued where it is implemented:
//! unanswered operations nobody could have observed are dropped, and a read
//! that fits the current state is linearized next without alternatives.
//!
//! The search is still exponential in the number of operations pending at
//! once on one key. Seeded histories of 20,000 operations on a single key
//! are decided in well under a second with 8 concurrent clients; with 16,
//! accepting one takes about a second, but proving a violation near the end
//! runs out of the default budget. Spreading clients over keys keeps it cheap.
//! Every search step counts against a budget shared by all keys, so a
//! pathological history yields `Timeout` instead of exponential running time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

/// Search steps allowed by [`check_kv_history`]. The memo set grows by at
/// most one entry per step, which bounds memory as well as time: spending
/// all of it took about 300 MB and a few seconds in a release build.
pub const DEFAULT_MAX_STEPS: u64 = 5_000_000;

/// Return time of an operation whose outcome the client never learned
/// (crashed client, timed-out request): it may take effect at any point
/// after its call, or never.
pub const NEVER_RETURNED: u64 = u64::MAX;

/// Operations listed in a `NotLinearizable` detail before it is truncated.
const MAX_DETAIL_OPERATIONS: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvInput {
    Put { key: String, value: String },
    Get { key: String },
}

impl KvInput {
    pub fn key(&self) -> &str {
        match self {
            KvInput::Put { key, .. } | KvInput::Get { key } => key,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOutput {
    PutOk,
    GetValue(Option<String>),
}

/// One client operation as observed from outside the cluster, with times in
/// simulated ticks (`call_time < return_time`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvOperation {
    pub client_id: u64,
    pub call_time: u64,
    /// [`NEVER_RETURNED`] when the outcome is unknown; `output` is then ignored.
    pub return_time: u64,
    pub input: KvInput,
    pub output: KvOutput,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    Linearizable,
    /// `key` is the first failing key (smallest history first); `detail`
    /// says where the deepest attempt got stuck and lists that key's
    /// operations, or in a long history those around the stuck one.
    NotLinearizable {
        key: String,
        detail: String,
    },
    /// The step budget ran out before every key was decided.
    Timeout,
}

/// Checks `ops` against a map of independent registers (initially absent)
/// with the [`DEFAULT_MAX_STEPS`] budget.
pub fn check_kv_history(ops: &[KvOperation]) -> CheckResult {
    check_kv_history_with_budget(ops, DEFAULT_MAX_STEPS)
}

/// Like [`check_kv_history`], giving up with `Timeout` after `max_steps`
/// search steps summed over all keys.
pub fn check_kv_history_with_budget(ops: &[KvOperation], max_steps: u64) -> CheckResult {
    for op in ops {
        assert!(
            op.call_time < op.return_time,
            "operation returns before it is called: {op:?}"
        );
    }
    let mut by_key: BTreeMap<&str, Vec<&KvOperation>> = BTreeMap::new();
    for op in ops {
        by_key.entry(op.input.key()).or_default().push(op);
    }
    // Smallest keys first: the reported violation is then the shortest one,
    // and a key too large for the budget does not hide a violation in a
    // small one.
    let mut partitions: Vec<(&str, Vec<&KvOperation>)> = by_key
        .into_iter()
        .map(|(key, part)| (key, without_unobservable_operations(part)))
        .collect();
    partitions.sort_by_key(|(key, part)| (part.len(), *key));

    let mut steps_left = max_steps;
    for (key, part) in &partitions {
        match check_register(part, &mut steps_left) {
            RegisterVerdict::Linearizable => {}
            RegisterVerdict::NotLinearizable(failure) => {
                let omitted = ops.iter().filter(|op| op.input.key() == *key).count() - part.len();
                return CheckResult::NotLinearizable {
                    key: (*key).to_string(),
                    detail: describe_failure(part, &failure, omitted),
                };
            }
            RegisterVerdict::OutOfSteps => return CheckResult::Timeout,
        }
    }
    CheckResult::Linearizable
}

/// Drops the operations of one key that never returned and that no read
/// can have observed: reads, and writes of a value no read returned.
///
/// Such an operation changes nothing: with no return it has no real-time
/// constraint, so appending it to a linearization of the others yields one
/// of the whole history; conversely, in any linearization no read sits
/// between an unobserved write and the next write (that read would return
/// its value), so removing it leaves every read valid. Keeping it would
/// double the search space, as it stays pending until the end of the
/// history, and timed-out requests are common under faults.
fn without_unobservable_operations(part: Vec<&KvOperation>) -> Vec<&KvOperation> {
    let observed_values: HashSet<&str> = part
        .iter()
        .filter(|op| op.return_time != NEVER_RETURNED)
        .filter_map(|op| match (&op.input, &op.output) {
            (KvInput::Get { .. }, KvOutput::GetValue(Some(value))) => Some(value.as_str()),
            _ => None,
        })
        .collect();
    part.into_iter()
        .filter(|op| {
            op.return_time != NEVER_RETURNED
                || matches!(&op.input, KvInput::Put { value, .. }
                    if observed_values.contains(value.as_str()))
        })
        .collect()
}

/// A register with its values interned per key so that memo entries stay
/// small: `None` is the absent value.
type RegisterState = Option<u32>;

/// What one operation requires of the register and does to it.
#[derive(Debug, Clone, Copy)]
enum RegisterStep {
    Write(u32),
    Read(Option<u32>),
    /// A read whose result never reached the client: always allowed.
    UnobservedRead,
    /// Output of the wrong kind for the input: cannot be linearized.
    Malformed,
}

impl RegisterStep {
    fn apply(self, state: RegisterState) -> Option<RegisterState> {
        match self {
            RegisterStep::Write(value) => Some(Some(value)),
            RegisterStep::Read(observed) => (observed == state).then_some(state),
            RegisterStep::UnobservedRead => Some(state),
            RegisterStep::Malformed => None,
        }
    }
}

/// The register step of every operation, and the interned values by id.
fn register_steps<'a>(part: &[&'a KvOperation]) -> (Vec<RegisterStep>, Vec<&'a str>) {
    let mut interned: HashMap<&'a str, u32> = HashMap::new();
    let mut values: Vec<&'a str> = Vec::new();
    let mut intern = |value: &'a str| -> u32 {
        *interned.entry(value).or_insert_with(|| {
            values.push(value);
            u32::try_from(values.len() - 1).expect("fewer than 2^32 values")
        })
    };
    let steps = part
        .iter()
        .map(|op| {
            let returned = op.return_time != NEVER_RETURNED;
            match (&op.input, &op.output) {
                (KvInput::Put { value, .. }, KvOutput::PutOk) => RegisterStep::Write(intern(value)),
                (KvInput::Put { value, .. }, _) if !returned => RegisterStep::Write(intern(value)),
                (KvInput::Get { .. }, _) if !returned => RegisterStep::UnobservedRead,
                (KvInput::Get { .. }, KvOutput::GetValue(observed)) => {
                    RegisterStep::Read(observed.as_deref().map(&mut intern))
                }
                _ => RegisterStep::Malformed,
            }
        })
        .collect();
    (steps, values)
}

enum RegisterVerdict {
    Linearizable,
    NotLinearizable(Failure),
    OutOfSteps,
}

/// Where the deepest attempt got stuck, to point at the violation.
struct Failure {
    longest_prefix_operations: usize,
    /// At the deepest point: the operation whose return was reached while
    /// it could not be linearized, and the register value.
    blocked: Option<(usize, Option<String>)>,
    /// At that point: bit per operation, set if linearized.
    linearized_when_blocked: Vec<u64>,
}

const NIL: usize = usize::MAX;

/// Call and return entries of one key, sorted by time, as an index-based
/// doubly linked list so an operation is removed and restored in O(1)
/// (Knuth's dancing links, as in porcupine's `lift`/`unlift`).
struct EntryList {
    /// Operation index of each entry.
    operation: Vec<usize>,
    /// For a call entry, its return entry; `NIL` for a return entry.
    matching_return: Vec<usize>,
    next: Vec<usize>,
    prev: Vec<usize>,
    /// Sentinel before the first entry; the list is empty when its `next` is `NIL`.
    head: usize,
}

impl EntryList {
    fn new(part: &[&KvOperation]) -> Self {
        // (time, is_return, operation). At equal times calls sort before
        // returns, so operations touching the same tick count as concurrent
        // (porcupine does the same): the coarse tick cannot order them.
        let mut entries: Vec<(u64, bool, usize)> = Vec::with_capacity(part.len() * 2);
        for (index, op) in part.iter().enumerate() {
            entries.push((op.call_time, false, index));
            entries.push((op.return_time, true, index));
        }
        entries.sort_unstable();
        let count = entries.len();
        let head = count;
        let mut return_entry_of = vec![NIL; part.len()];
        for (position, &(_, is_return, index)) in entries.iter().enumerate() {
            if is_return {
                return_entry_of[index] = position;
            }
        }
        let operation: Vec<usize> = entries.iter().map(|entry| entry.2).collect();
        let mut matching_return: Vec<usize> = entries
            .iter()
            .map(|&(_, is_return, index)| {
                if is_return {
                    NIL
                } else {
                    return_entry_of[index]
                }
            })
            .collect();
        matching_return.push(NIL); // the sentinel
        let next: Vec<usize> = (0..=count)
            .map(|position| match position {
                // An empty list (every operation of the key was dropped as
                // unobservable) is only its sentinel.
                _ if position == head && count == 0 => NIL,
                _ if position == head => 0,
                _ if position + 1 == count => NIL,
                _ => position + 1,
            })
            .collect();
        let prev: Vec<usize> = (0..=count)
            .map(|position| if position == 0 { head } else { position - 1 })
            .collect();
        EntryList {
            operation,
            matching_return,
            next,
            prev,
            head,
        }
    }

    fn is_call(&self, entry: usize) -> bool {
        self.matching_return[entry] != NIL
    }

    fn unlink(&mut self, entry: usize) {
        let (prev, next) = (self.prev[entry], self.next[entry]);
        self.next[prev] = next;
        if next != NIL {
            self.prev[next] = prev;
        }
    }

    /// Restores an entry unlinked last; its own links still point at its
    /// old neighbours.
    fn relink(&mut self, entry: usize) {
        let (prev, next) = (self.prev[entry], self.next[entry]);
        self.next[prev] = entry;
        if next != NIL {
            self.prev[next] = entry;
        }
    }

    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.matching_return[call]);
    }

    fn unlift(&mut self, call: usize) {
        self.relink(self.matching_return[call]);
        self.relink(call);
    }
}

/// Where the search goes next.
enum Cursor {
    /// An operation was just lifted: the configuration is new.
    Arrived,
    /// Trying the remaining entries of the current configuration from here.
    Scan(usize),
    /// No candidate of the current configuration leads to a linearization.
    Backtrack,
}

/// WGL search over one key's operations (porcupine's `checkSingle`), plus
/// one reduction for reads, see [`RegisterSearch::fitting_candidate_read`].
fn check_register(part: &[&KvOperation], steps_left: &mut u64) -> RegisterVerdict {
    let (steps, values) = register_steps(part);
    let mut blocked = None;
    let mut blocked_depth: Option<usize> = None;
    let mut linearized_when_blocked = Vec::new();
    let mut search = RegisterSearch {
        steps,
        list: EntryList::new(part),
        linearized: vec![0u64; part.len().div_ceil(64)],
        memo: HashSet::new(),
        stack: Vec::with_capacity(part.len()),
        state: None,
        longest_prefix_operations: 0,
    };
    let mut cursor = Cursor::Arrived;
    while search.list.next[search.list.head] != NIL {
        if *steps_left == 0 {
            return RegisterVerdict::OutOfSteps;
        }
        *steps_left -= 1;
        cursor = match cursor {
            Cursor::Arrived => match search.fitting_candidate_read() {
                Some(read) if search.lift(read, true) => Cursor::Arrived,
                Some(_) => Cursor::Backtrack,
                None => Cursor::Scan(search.list.next[search.list.head]),
            },
            Cursor::Scan(entry) if search.list.is_call(entry) => {
                if search.lift(entry, false) {
                    Cursor::Arrived
                } else {
                    Cursor::Scan(search.list.next[entry])
                }
            }
            // The earliest remaining return belongs to an operation not yet
            // linearized: nothing after it may go next.
            Cursor::Scan(_) | Cursor::Backtrack => {
                // Only the first time at the deepest level: copies are O(n).
                if let Cursor::Scan(entry) = cursor
                    && search.stack.len() == search.longest_prefix_operations
                    && blocked_depth < Some(search.stack.len())
                {
                    blocked_depth = Some(search.stack.len());
                    let value = search.state.map(|id| values[id as usize].to_string());
                    blocked = Some((search.list.operation[entry], value));
                    linearized_when_blocked.clone_from(&search.linearized);
                }
                match search.backtrack() {
                    Some(call) => Cursor::Scan(search.list.next[call]),
                    None => {
                        return RegisterVerdict::NotLinearizable(Failure {
                            longest_prefix_operations: search.longest_prefix_operations,
                            blocked,
                            linearized_when_blocked,
                        });
                    }
                }
            }
        };
    }
    RegisterVerdict::Linearizable
}

struct RegisterSearch {
    steps: Vec<RegisterStep>,
    list: EntryList,
    /// Bit per operation: linearized in the current configuration.
    linearized: Vec<u64>,
    /// Configurations already entered. Entering one again cannot succeed:
    /// the same operations remain from the same state (Lowe 2017).
    memo: HashSet<MemoKey>,
    /// Lifted call entries with the state before each and whether the
    /// choice was forced, to undo them.
    stack: Vec<(usize, RegisterState, bool)>,
    state: RegisterState,
    longest_prefix_operations: usize,
}

/// A configuration in the memo: the linearized set and the state.
///
/// The search linearizes operations roughly in call order, so the set is
/// "every operation before a frontier, plus a few just past it". Storing
/// only the words between the leading all-ones words and the trailing zero
/// words keeps an entry proportional to the concurrency instead of the
/// history length, which is what bounds memory at one entry per step.
#[derive(PartialEq, Eq, Hash)]
struct MemoKey {
    full_leading_words: u32,
    middle_words: Box<[u64]>,
    state: RegisterState,
}

impl MemoKey {
    fn new(linearized: &[u64], state: RegisterState) -> Self {
        let start = linearized
            .iter()
            .take_while(|&&word| word == u64::MAX)
            .count();
        let end = linearized
            .iter()
            .rposition(|&word| word != 0)
            .map_or(start, |last| last + 1);
        MemoKey {
            full_leading_words: u32::try_from(start).expect("fewer than 2^38 operations"),
            middle_words: linearized[start..end.max(start)].into(),
            state,
        }
    }
}

impl RegisterSearch {
    /// Linearizes the operation of `call` next if the register accepts it
    /// and the resulting configuration is new.
    fn lift(&mut self, call: usize, forced: bool) -> bool {
        let index = self.list.operation[call];
        let Some(next_state) = self.steps[index].apply(self.state) else {
            return false;
        };
        let (word, bit) = (index / 64, 1u64 << (index % 64));
        self.linearized[word] |= bit;
        if !self.memo.insert(MemoKey::new(&self.linearized, next_state)) {
            self.linearized[word] &= !bit;
            return false;
        }
        self.stack.push((call, self.state, forced));
        self.longest_prefix_operations = self.longest_prefix_operations.max(self.stack.len());
        self.state = next_state;
        self.list.lift(call);
        true
    }

    /// Undoes lifted operations up to and including the last free choice,
    /// returning its call entry; `None` when there is none left to undo.
    fn backtrack(&mut self) -> Option<usize> {
        while let Some((call, previous_state, forced)) = self.stack.pop() {
            let index = self.list.operation[call];
            self.linearized[index / 64] &= !(1u64 << (index % 64));
            self.state = previous_state;
            self.list.unlift(call);
            if !forced {
                return Some(call);
            }
        }
        None
    }

    /// A candidate read that returns the current state, if any.
    ///
    /// Linearizing it next loses nothing: take any linearization of the
    /// remaining operations and move the read to its front. The read still
    /// sees this state, it changes no state for the others, and real-time
    /// order holds because a candidate's call precedes every remaining
    /// return. So if the search fails after this read, it fails here, and
    /// no alternative needs trying. Without this, writes are tried first in
    /// call order and the search backtracks over every subset of
    /// concurrent writes placed too early.
    fn fitting_candidate_read(&self) -> Option<usize> {
        let mut entry = self.list.next[self.list.head];
        while entry != NIL && self.list.is_call(entry) {
            let step = self.steps[self.list.operation[entry]];
            let is_read = matches!(step, RegisterStep::Read(_) | RegisterStep::UnobservedRead);
            if is_read && step.apply(self.state).is_some() {
                return Some(entry);
            }
            entry = self.list.next[entry];
        }
        None
    }
}

fn describe_failure(part: &[&KvOperation], failure: &Failure, omitted: usize) -> String {
    let mut detail = format!(
        "{} operations ({omitted} unanswered ones nobody observed left out); the longest \
         partial linearization has {}",
        part.len(),
        failure.longest_prefix_operations
    );
    let mut shown: Vec<&KvOperation> = part.to_vec();
    if let Some((index, value)) = &failure.blocked {
        let stuck = part[*index];
        let _ = write!(detail, ", then nothing fits before ");
        describe_operation(&mut detail, stuck);
        let _ = write!(detail, " returns (register holds {value:?})");
        // In a long history, the operations that overlap it and could still
        // have gone next show why.
        if part.len() > MAX_DETAIL_OPERATIONS {
            let linearized = &failure.linearized_when_blocked;
            shown = (0..part.len())
                .filter(|&other| {
                    let op = part[other];
                    let overlaps =
                        op.call_time <= stuck.return_time && stuck.call_time <= op.return_time;
                    let pending = linearized[other / 64] & (1u64 << (other % 64)) == 0;
                    overlaps && (pending || op.return_time != NEVER_RETURNED)
                })
                .map(|other| part[other])
                .collect();
        }
    }
    // Unanswered operations overlap everything after their call: last.
    shown.sort_by_key(|op| {
        let unanswered = op.return_time == NEVER_RETURNED;
        (unanswered, op.call_time, op.return_time, op.client_id)
    });
    detail.push_str(if shown.len() < part.len() {
        "; concurrent with it: "
    } else {
        "; all: "
    });
    for (position, op) in shown.iter().take(MAX_DETAIL_OPERATIONS).enumerate() {
        if position > 0 {
            detail.push_str("; ");
        }
        describe_operation(&mut detail, op);
    }
    if shown.len() > MAX_DETAIL_OPERATIONS {
        let _ = write!(detail, "; ... {} more", shown.len() - MAX_DETAIL_OPERATIONS);
    }
    detail
}

fn describe_operation(out: &mut String, op: &KvOperation) {
    let _ = write!(out, "client {} [{}, ", op.client_id, op.call_time);
    match (op.return_time, &op.input, &op.output) {
        (NEVER_RETURNED, KvInput::Put { value, .. }, _) => {
            let _ = write!(out, "never] put {value:?} -> ?");
        }
        (NEVER_RETURNED, KvInput::Get { .. }, _) => out.push_str("never] get -> ?"),
        (returned, KvInput::Put { value, .. }, output) => {
            let _ = write!(out, "{returned}] put {value:?} -> {output:?}");
        }
        (returned, KvInput::Get { .. }, output) => {
            let _ = write!(out, "{returned}] get -> {output:?}");
        }
    }
}
