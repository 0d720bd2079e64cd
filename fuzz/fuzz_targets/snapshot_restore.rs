//! A state machine snapshot is read from disk or received in InstallSnapshot
//! chunks: restoring from any bytes must give a state machine or a typed
//! error, never a panic or an allocation the bytes do not back.

#![no_main]

use concord::state_machine::StateMachine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = StateMachine::restore_snapshot(data);
});
