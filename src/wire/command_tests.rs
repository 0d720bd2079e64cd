use super::*;

#[test]
fn a_put_is_laid_out_byte_by_byte_as_the_spec_says() {
    let entry = LogCommand {
        envelope: Envelope {
            timestamp_ms: 0x0102,
            client: Some(ClientSequence {
                client_id: 5,
                sequence: 9,
                first_unacknowledged: 8,
            }),
        },
        command: Command::KvPut {
            key: "a".into(),
            value: Bytes::from_static(&[0xff]),
            flags: 42,
            cas: Some(7),
        },
    };
    let mut expected = vec![2, 0, 0, 0, 0, 0, 0, 1, 2, 1];
    expected.extend_from_slice(&5u64.to_be_bytes());
    expected.extend_from_slice(&9u64.to_be_bytes());
    expected.extend_from_slice(&8u64.to_be_bytes());
    expected.extend_from_slice(&[0x01, 0, 0, 0, 1, b'a', 0, 0, 0, 1, 0xff]);
    expected.extend_from_slice(&42u64.to_be_bytes());
    expected.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 7]);
    assert_eq!(entry.to_bytes(), expected);
    assert_eq!(LogCommand::decode(&expected), Ok(entry));
}

#[test]
fn a_version_1_entry_decodes_to_the_command_it_meant() {
    let put = [
        1, 0x01, 0, 0, 0, 1, b'a', 0, 0, 0, 1, 0xff, 1, 0, 0, 0, 0, 0, 0, 0, 7,
    ];
    assert_eq!(
        LogCommand::decode(&put).unwrap(),
        LogCommand {
            envelope: Envelope::UNTIMED,
            command: Command::KvPut {
                key: "a".into(),
                value: Bytes::from_static(&[0xff]),
                flags: 0,
                cas: Some(7)
            }
        }
    );
    let delete_tree = [1, 0x02, 0, 0, 0, 1, b'a', 1];
    assert_eq!(
        LogCommand::decode(&delete_tree).unwrap().command,
        Command::KvDeleteTree { prefix: "a".into() }
    );
    // Tags added in version 2 are not version 1 commands.
    assert_eq!(
        LogCommand::decode(&[1, TAG_REGISTER_CLIENT]),
        Err(WireError::UnknownMessageType(TAG_REGISTER_CLIENT))
    );
}

#[test]
fn a_txn_with_more_than_the_op_limit_is_refused_before_its_ops_are_read() {
    let mut bytes = vec![COMMAND_VERSION];
    bytes.put_u64(0);
    bytes.put_u8(0);
    bytes.put_u8(TAG_TXN);
    bytes.put_count(MAX_TXN_OPS + 1);
    for _ in 0..=MAX_TXN_OPS {
        TxnOp::Get { key: "k".into() }.encode(&mut bytes);
    }
    assert_eq!(
        LogCommand::decode(&bytes),
        Err(WireError::InvalidValue {
            field: "txn.op_count",
            value: MAX_TXN_OPS as u64 + 1
        })
    );
}

#[test]
fn a_registration_inside_a_session_is_refused() {
    let bytes = LogCommand {
        envelope: Envelope {
            timestamp_ms: 1,
            client: Some(ClientSequence {
                client_id: 1,
                sequence: 1,
                first_unacknowledged: 1,
            }),
        },
        command: Command::RegisterClient,
    }
    .to_bytes();
    assert!(matches!(
        LogCommand::decode(&bytes),
        Err(WireError::InvalidValue { .. })
    ));
}

#[test]
fn unknown_version_tag_and_verb_are_distinct_errors() {
    assert_eq!(
        LogCommand::decode(&[3, TAG_KV_DELETE]),
        Err(WireError::UnknownVersion(3))
    );
    let mut bytes = vec![COMMAND_VERSION];
    bytes.put_u64(0);
    bytes.put_u8(0);
    assert_eq!(
        LogCommand::decode(&[&bytes[..], &[0x77]].concat()),
        Err(WireError::UnknownMessageType(0x77))
    );
    bytes.put_u8(TAG_TXN);
    bytes.put_count(1);
    bytes.put_u8(0x42);
    bytes.put_string("k");
    assert_eq!(
        LogCommand::decode(&bytes),
        Err(WireError::InvalidValue {
            field: "txn.verb",
            value: 0x42
        })
    );
}

#[test]
fn limits_error_names_what_would_not_decode() {
    let ops = vec![TxnOp::Get { key: "k".into() }; MAX_TXN_OPS + 1];
    assert!(Command::Txn { ops }.limits_error().is_some());
    let put = Command::KvPut {
        key: "k".repeat(MAX_KEY_BYTES + 1),
        value: Bytes::new(),
        flags: 0,
        cas: None,
    };
    assert!(put.limits_error().unwrap().contains("key"));
    assert_eq!(Command::RegisterClient.limits_error(), None);
}

#[test]
fn an_entry_buffer_is_allocated_once_at_its_size_bound() {
    let node = CatalogNode {
        name: "n".into(),
        address: "10.0.0.1".into(),
        role: "server".into(),
        datacenter: "dc1".into(),
    };
    let value = Bytes::from(vec![7; 300]);
    let commands = [
        Command::KvPut {
            key: "k".repeat(MAX_KEY_BYTES),
            value: value.clone(),
            flags: u64::MAX,
            cas: Some(1),
        },
        Command::KvDelete {
            key: "k".into(),
            cas: Some(2),
        },
        Command::KvDeleteTree { prefix: "p".into() },
        Command::Txn {
            ops: vec![
                TxnOp::Cas {
                    key: "a".into(),
                    value: value.clone(),
                    flags: 1,
                    index: 2,
                },
                TxnOp::CheckIndex {
                    key: "b".into(),
                    index: 3,
                },
            ],
        },
        Command::CatalogRegister(node),
        Command::CatalogDeregister { name: "n".into() },
        Command::RegisterClient,
        Command::CatalogRegistration(Box::new(
            crate::wire::catalog_registration::tests::sample_register(),
        )),
        Command::CatalogDeregistration(crate::wire::catalog_registration::DeregisterRequest {
            node: "n".into(),
            target: crate::wire::catalog_registration::DeregisterTarget::Check("c".into()),
        }),
    ];
    let client = Envelope {
        timestamp_ms: 1,
        client: Some(ClientSequence {
            client_id: 1,
            sequence: 2,
            first_unacknowledged: 1,
        }),
    };
    for command in commands {
        let mut unbounded = Vec::new();
        client.encode(&command, &mut unbounded);
        assert!(
            unbounded.len() <= ENVELOPE_MAX_BYTES + command.body_len_bound(),
            "{command:?}"
        );
        assert_eq!(client.to_bytes(&command), unbounded);
    }
}

#[test]
fn a_large_value_decoded_from_a_shared_entry_is_a_slice_of_it() {
    let put = Command::KvPut {
        key: "k".into(),
        value: Bytes::from(vec![9; 1000]),
        flags: 0,
        cas: None,
    };
    let entry = put.to_bytes();
    let Command::KvPut { value, .. } = LogCommand::decode_shared(&entry).unwrap().command else {
        panic!("a put decodes to a put");
    };
    assert!(entry.as_ptr_range().contains(&value.as_ptr()));
    assert_eq!(value, vec![9; 1000]);
}

#[test]
fn catalog_registrations_round_trip_as_entries_and_every_truncation_fails() {
    use crate::wire::catalog_registration::{DeregisterRequest, DeregisterTarget, tests};
    for command in [
        Command::CatalogRegistration(Box::new(tests::sample_register())),
        Command::CatalogDeregistration(DeregisterRequest {
            node: "n1".into(),
            target: DeregisterTarget::Service("web-1".into()),
        }),
        Command::CatalogDeregistration(DeregisterRequest {
            node: "n1".into(),
            target: DeregisterTarget::Node,
        }),
    ] {
        let bytes = command.to_bytes();
        let decoded = LogCommand::decode(&bytes).unwrap();
        assert_eq!(decoded.command, command);
        assert_eq!(command.limits_error(), None);
        for len in 0..bytes.len() {
            assert!(LogCommand::decode(&bytes[..len]).is_err(), "cut to {len}");
        }
    }
    // The tag byte after the 10-byte untimed envelope: 0x08 registers.
    assert_eq!(
        Command::CatalogRegistration(Box::new(tests::sample_register())).to_bytes()[10],
        0x08
    );
}
