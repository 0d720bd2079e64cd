//! A replicated state machine command arrives inside a log entry from a
//! peer or from disk: decoding any bytes must give a command or a typed
//! error, and whatever decodes must apply without panicking and re-encode to
//! the same bytes.

#![no_main]

use concord::state_machine::StateMachine;
use concord::wire::command::Command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(command) = Command::decode(data) {
        assert_eq!(command.to_bytes(), data, "decode then encode must be the identity");
        let mut state_machine = StateMachine::new();
        let _ = state_machine.apply(1, data);
    }
});
