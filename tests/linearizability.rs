//! Tests of the KV history linearizability checker used by the cluster
//! simulation tests.

#[path = "support/linearizability.rs"]
mod linearizability;

use linearizability::{
    CheckResult, KvInput, KvOperation, KvOutput, NEVER_RETURNED, check_kv_history,
    check_kv_history_with_budget,
};

fn put(client_id: u64, call_time: u64, return_time: u64, key: &str, value: &str) -> KvOperation {
    KvOperation {
        client_id,
        call_time,
        return_time,
        input: KvInput::Put {
            key: key.to_string(),
            value: value.to_string(),
        },
        output: KvOutput::PutOk,
    }
}

fn crashed_put(client_id: u64, call_time: u64, key: &str, value: &str) -> KvOperation {
    put(client_id, call_time, NEVER_RETURNED, key, value)
}

fn get(
    client_id: u64,
    call_time: u64,
    return_time: u64,
    key: &str,
    observed: Option<&str>,
) -> KvOperation {
    KvOperation {
        client_id,
        call_time,
        return_time,
        input: KvInput::Get {
            key: key.to_string(),
        },
        output: KvOutput::GetValue(observed.map(str::to_string)),
    }
}

fn assert_linearizable(history: &[KvOperation]) {
    let result = check_kv_history(history);
    assert_eq!(result, CheckResult::Linearizable, "history: {history:#?}");
}

/// Asserts a violation and returns the reported key.
fn assert_not_linearizable(history: &[KvOperation]) -> String {
    match check_kv_history(history) {
        CheckResult::NotLinearizable { key, detail } => {
            assert!(!detail.is_empty());
            key
        }
        other => panic!("expected a violation, got {other:?} for {history:#?}"),
    }
}

#[test]
fn sequential_history_matching_the_register_is_linearizable() {
    let history = [
        get(1, 0, 1, "x", None),
        put(1, 2, 3, "x", "a"),
        get(2, 4, 5, "x", Some("a")),
        put(2, 6, 7, "x", "b"),
        get(1, 8, 9, "x", Some("b")),
        get(3, 10, 11, "y", None),
    ];
    assert_linearizable(&history);

    let mut wrong = history.to_vec();
    wrong[4] = get(1, 8, 9, "x", Some("a"));
    assert_not_linearizable(&wrong);
}

#[test]
fn empty_history_is_linearizable() {
    assert_eq!(check_kv_history(&[]), CheckResult::Linearizable);
}

#[test]
fn read_overlapping_a_write_may_see_either_the_old_or_the_new_value() {
    let sees_old = [put(1, 0, 10, "x", "a"), get(2, 5, 15, "x", None)];
    let sees_new = [put(1, 0, 10, "x", "a"), get(2, 5, 15, "x", Some("a"))];
    let sees_other = [put(1, 0, 10, "x", "a"), get(2, 5, 15, "x", Some("b"))];
    assert_linearizable(&sees_old);
    assert_linearizable(&sees_new);
    assert_not_linearizable(&sees_other);
}

#[test]
fn operations_sharing_a_tick_count_as_concurrent() {
    // The read is called in the tick the write returns: the tick cannot
    // order them, so either outcome is accepted.
    assert_linearizable(&[put(1, 0, 5, "x", "a"), get(2, 5, 9, "x", None)]);
    assert_linearizable(&[put(1, 0, 5, "x", "a"), get(2, 5, 9, "x", Some("a"))]);
}

#[test]
fn stale_read_after_a_completed_write_is_rejected() {
    let history = [
        put(1, 0, 10, "x", "a"),
        put(1, 20, 30, "x", "b"),
        // Called after "b" was acknowledged, yet sees "a": a deposed
        // leader serving a read from its local state.
        get(2, 40, 50, "x", Some("a")),
    ];
    assert_eq!(assert_not_linearizable(&history), "x");

    let mut fresh = history.to_vec();
    fresh[2] = get(2, 40, 50, "x", Some("b"));
    assert_linearizable(&fresh);
}

#[test]
fn read_of_a_value_never_written_is_rejected() {
    let history = [
        put(1, 0, 10, "x", "a"),
        put(2, 5, 15, "x", "b"),
        get(3, 0, 20, "x", Some("c")),
    ];
    assert_eq!(assert_not_linearizable(&history), "x");
}

#[test]
fn acknowledged_write_that_disappears_is_rejected() {
    // A committed entry lost across a leader change: the write was
    // acknowledged and read back, and later reads see the old value.
    let history = [
        put(1, 0, 10, "x", "a"),
        get(2, 20, 30, "x", Some("a")),
        get(2, 40, 50, "x", None),
    ];
    assert_eq!(assert_not_linearizable(&history), "x");
}

#[test]
fn concurrent_writes_cannot_both_win_in_turn() {
    // Both writes are acknowledged before either read. The register may
    // end with either value, but cannot switch back once both are done.
    let prefix = [put(1, 0, 10, "x", "a"), put(2, 0, 10, "x", "b")];
    for last in ["a", "b"] {
        let mut settled = prefix.to_vec();
        settled.push(get(3, 20, 30, "x", Some(last)));
        settled.push(get(3, 40, 50, "x", Some(last)));
        assert_linearizable(&settled);
    }
    let mut flip_flop = prefix.to_vec();
    flip_flop.push(get(3, 20, 30, "x", Some("b")));
    flip_flop.push(get(3, 40, 50, "x", Some("a")));
    assert_not_linearizable(&flip_flop);
}

#[test]
fn write_with_unknown_outcome_may_take_effect_or_not() {
    let took_effect = [
        crashed_put(1, 0, "x", "a"),
        get(2, 100, 110, "x", Some("a")),
        get(2, 120, 130, "x", Some("a")),
    ];
    let never_applied = [
        crashed_put(1, 0, "x", "a"),
        get(2, 100, 110, "x", None),
        get(2, 120, 130, "x", None),
    ];
    let applied_late = [
        crashed_put(1, 0, "x", "a"),
        get(2, 100, 110, "x", None),
        get(2, 1_000, 1_010, "x", Some("a")),
    ];
    assert_linearizable(&took_effect);
    assert_linearizable(&never_applied);
    assert_linearizable(&applied_late);
}

#[test]
fn write_with_unknown_outcome_still_obeys_real_time() {
    // Once seen, the write has happened and cannot be undone.
    let seen_then_gone = [
        crashed_put(1, 0, "x", "a"),
        get(2, 100, 110, "x", Some("a")),
        get(2, 120, 130, "x", None),
    ];
    assert_not_linearizable(&seen_then_gone);
    // It cannot be seen before it was issued.
    let seen_before_call = [get(2, 0, 10, "x", Some("a")), crashed_put(1, 20, "x", "a")];
    assert_not_linearizable(&seen_before_call);
}

#[test]
fn violation_on_one_key_among_many_is_reported_with_that_key() {
    let mut history = Vec::new();
    for key_index in 0..40u64 {
        let key = format!("key-{key_index}");
        let base = key_index * 3;
        history.push(put(key_index, base, base + 50, &key, "first"));
        history.push(put(key_index + 100, base + 60, base + 70, &key, "second"));
        history.push(get(
            key_index + 200,
            base + 65,
            base + 90,
            &key,
            Some("first"),
        ));
        history.push(get(
            key_index + 200,
            base + 95,
            base + 99,
            &key,
            Some("second"),
        ));
    }
    assert_linearizable(&history);

    // On key-17 the last read now sees the overwritten value.
    let bad = history
        .iter_mut()
        .filter(|op| op.input.key() == "key-17")
        .last()
        .expect("key-17 has operations");
    bad.output = KvOutput::GetValue(Some("first".to_string()));
    match check_kv_history(&history) {
        CheckResult::NotLinearizable { key, detail } => {
            assert_eq!(key, "key-17");
            assert!(detail.contains("\"second\""), "detail: {detail}");
        }
        other => panic!("expected a violation on key-17, got {other:?}"),
    }
}

/// splitmix64: a seeded generator so every failure reproduces.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

/// A history produced by a real sequential execution: operation `i` takes
/// effect at tick `100 + 10 * i`, and its call and return are stretched
/// around that point by random windows up to `max_window_ticks`, so that
/// many operations overlap. Some writes never return; half of those never
/// take effect.
fn history_from_sequential_execution(
    seed: u64,
    operation_count: u64,
    key_count: u64,
    max_window_ticks: u64,
) -> Vec<KvOperation> {
    let mut rng = SplitMix64(seed);
    let mut registers: Vec<Option<String>> = vec![None; key_count as usize];
    let mut history = Vec::new();
    for index in 0..operation_count {
        let effect_time = 100 + 10 * index;
        let call_time = effect_time - rng.below(max_window_ticks);
        let return_time = effect_time + 1 + rng.below(max_window_ticks);
        let key_index = rng.below(key_count) as usize;
        let key = format!("k{key_index}");
        let client_id = rng.below(8);
        if rng.below(2) == 0 {
            let value = format!("v{index}");
            if rng.below(20) == 0 {
                if rng.below(2) == 0 {
                    registers[key_index] = Some(value.clone());
                }
                history.push(crashed_put(client_id, call_time, &key, &value));
            } else {
                registers[key_index] = Some(value.clone());
                history.push(put(client_id, call_time, return_time, &key, &value));
            }
        } else {
            let observed = registers[key_index].as_deref();
            history.push(get(client_id, call_time, return_time, &key, observed));
        }
    }
    history
}

/// Makes one read return a value that was overwritten before the read
/// began: writes P1 and P2 on the read's key with P1 returning before P2
/// is called and P2 returning before the read is called. Values are
/// unique, so the history can no longer be linearized. Returns the key.
fn corrupt_one_read(history: &mut [KvOperation]) -> Option<String> {
    let completed_put = |op: &KvOperation| {
        matches!(op.input, KvInput::Put { .. }) && op.return_time != NEVER_RETURNED
    };
    for read_index in (0..history.len()).rev() {
        let read = &history[read_index];
        if !matches!(read.input, KvInput::Get { .. }) {
            continue;
        }
        let key = read.input.key().to_string();
        let read_call = read.call_time;
        for second in history.iter() {
            if !completed_put(second)
                || second.input.key() != key
                || second.return_time >= read_call
            {
                continue;
            }
            let first = history.iter().find(|first| {
                completed_put(first)
                    && first.input.key() == key
                    && first.return_time < second.call_time
            });
            if let Some(KvOperation {
                input: KvInput::Put { value, .. },
                ..
            }) = first
            {
                let stale = value.clone();
                history[read_index].output = KvOutput::GetValue(Some(stale));
                return Some(key);
            }
        }
    }
    None
}

#[test]
fn histories_of_sequential_executions_are_linearizable_and_a_stale_read_is_not() {
    for seed in 0..40 {
        let mut history = history_from_sequential_execution(seed, 400, 3, 40);
        assert_eq!(
            check_kv_history(&history),
            CheckResult::Linearizable,
            "seed {seed}"
        );
        let key = corrupt_one_read(&mut history).expect("a read after two ordered writes");
        match check_kv_history(&history) {
            CheckResult::NotLinearizable { key: reported, .. } => {
                assert_eq!(reported, key, "seed {seed}")
            }
            other => panic!("seed {seed}: corrupted history accepted as {other:?}"),
        }
    }
}

/// `writer_count` writes of distinct values and one read of a value nobody
/// wrote, all concurrent: proving the violation means trying every subset
/// of writes, 2^writer_count search states.
fn exponential_history(writer_count: u64) -> Vec<KvOperation> {
    let mut history: Vec<KvOperation> = (0..writer_count)
        .map(|client| put(client, 0, 1_000, "x", &format!("v{client}")))
        .collect();
    history.push(get(writer_count, 0, 1_000, "x", Some("nobody")));
    history
}

#[test]
fn exhausted_step_budget_reports_timeout() {
    assert_eq!(
        check_kv_history_with_budget(&exponential_history(40), 100_000),
        CheckResult::Timeout
    );
    // The same shape small enough for the budget is decided.
    assert!(matches!(
        check_kv_history_with_budget(&exponential_history(6), 100_000),
        CheckResult::NotLinearizable { .. }
    ));
}

#[test]
fn step_budget_is_shared_by_all_keys() {
    let key_count = 50;
    let mut history = Vec::new();
    for key_index in 0..key_count {
        let key = format!("k{key_index}");
        for client in 0..6 {
            history.push(put(client, 0, 100, &key, &format!("v{client}")));
        }
        history.push(get(6, 0, 100, &key, Some("v0")));
    }
    let one_key: Vec<KvOperation> = history
        .iter()
        .filter(|op| op.input.key() == "k0")
        .cloned()
        .collect();
    let steps_for_one_key = (1..=100_000)
        .find(|&budget| check_kv_history_with_budget(&one_key, budget) != CheckResult::Timeout)
        .expect("one key is decided within 100000 steps");
    assert_eq!(
        check_kv_history_with_budget(&one_key, steps_for_one_key),
        CheckResult::Linearizable
    );
    // The keys are identical, so together they need exactly key_count times
    // the steps of one.
    let steps_for_all_keys = steps_for_one_key * key_count;
    assert_eq!(
        check_kv_history_with_budget(&history, steps_for_all_keys),
        CheckResult::Linearizable
    );
    assert_eq!(
        check_kv_history_with_budget(&history, steps_for_all_keys - 1),
        CheckResult::Timeout
    );
}
