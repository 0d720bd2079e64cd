//! A state machine snapshot is read from disk or received in InstallSnapshot
//! chunks: restoring from any bytes must give a state machine or a typed
//! error, never a panic or an allocation the bytes do not back. What
//! restores writes back to a snapshot that restores to the same state.

#![no_main]

use concord::state_machine::StateMachine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(restored) = StateMachine::restore_snapshot(data) {
        // Accepted bytes must make a store the rest of the code can trust.
        restored.kv().check_invariants();
        restored.catalog().check_invariants();
        let mut again = Vec::new();
        restored.write_snapshot(&mut again).expect("writing to a Vec");
        let reread = StateMachine::restore_snapshot(&again[..]).expect("our own snapshot");
        assert_eq!(reread, restored);
    }
});
