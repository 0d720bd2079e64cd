//! A replicated state machine command arrives inside a log entry from a
//! peer or from disk: decoding any bytes must give an entry or a typed
//! error, and whatever decodes must apply without panicking. A version 2
//! entry re-encodes to the same bytes (version 1 entries decode too, and
//! re-encode as version 2).

#![no_main]

use concord::state_machine::StateMachine;
use concord::wire::command::{COMMAND_VERSION, LogCommand};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let shared = bytes::Bytes::copy_from_slice(data);
    let decoded = LogCommand::decode(data);
    assert_eq!(LogCommand::decode_shared(&shared), decoded);
    if let Ok(entry) = decoded {
        if data[0] == COMMAND_VERSION {
            assert_eq!(
                entry.to_bytes(),
                data,
                "decode then encode must be the identity"
            );
        }
        let mut state_machine = StateMachine::new();
        let registration = [COMMAND_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07];
        // A session to be found: entries naming client 1 get past admission.
        let _ = state_machine.apply(1, &bytes::Bytes::copy_from_slice(&registration));
        let _ = state_machine.apply(2, &shared);
        let _ = state_machine.apply(3, &shared);
    }
});
