//! The JSON bodies of Consul's KV and transaction answers, field for field
//! and in the order Consul's server writes them (`structs.DirEntry`,
//! `structs.TxnResponse`, `structs.TxnReadResponse`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Serialize, Serializer};

/// One entry as `GET /v1/kv/<key>` and transaction results show it. Go's
/// `DirEntry` puts the Raft indexes last because they come from an
/// embedded struct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KvEntryJson {
    pub lock_index: u64,
    pub key: String,
    pub flags: u64,
    /// Base64; an empty value is JSON `null`, as Go writes a nil `[]byte`.
    #[serde(serialize_with = "base64_or_null")]
    pub value: Vec<u8>,
    /// Consul tags it `omitempty`: absent unless a session holds the lock.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub session: String,
    pub create_index: u64,
    pub modify_index: u64,
}

fn base64_or_null<S: Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_empty() {
        serializer.serialize_none()
    } else {
        serializer.serialize_str(&STANDARD.encode(value))
    }
}

/// `GET /v1/kv/<prefix>?keys` answers a plain JSON list of names, `[]`
/// (never `null`) when the root has no keys.
pub type KeyListJson = Vec<String>;

/// One transaction result; Consul omits the kinds that are not set, and
/// this wave only has KV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxnResultJson {
    #[serde(rename = "KV")]
    pub kv: KvEntryJson,
}

/// Why one operation failed; the transaction is then rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TxnErrorJson {
    pub op_index: usize,
    pub what: String,
}

/// The body of a `/v1/txn` answer: 200 with `Results` when applied, 409
/// with `Errors` when rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TxnResponseJson {
    /// `[]` rather than `null` for an applied transaction whose operations
    /// return nothing (deletes), as Consul's state store builds it.
    pub results: Option<Vec<TxnResultJson>>,
    pub errors: Option<Vec<TxnErrorJson>>,
    /// A read-only transaction is answered with the read's query metadata
    /// too, because Go embeds `QueryMeta` in `TxnReadResponse`.
    #[serde(flatten)]
    pub read_meta: Option<TxnReadMetaJson>,
}

impl TxnResponseJson {
    pub fn applied(results: Vec<TxnResultJson>) -> Self {
        TxnResponseJson {
            results: Some(results),
            errors: None,
            read_meta: None,
        }
    }

    pub fn rejected(errors: Vec<TxnErrorJson>) -> Self {
        TxnResponseJson {
            results: None,
            errors: Some(errors),
            read_meta: None,
        }
    }

    pub fn with_read_meta(mut self, read_meta: TxnReadMetaJson) -> Self {
        self.read_meta = Some(read_meta);
        self
    }
}

/// Go's `structs.QueryMeta` as JSON: `LastContact` is a Go
/// `time.Duration`, so nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TxnReadMetaJson {
    pub index: u64,
    pub last_contact: i64,
    pub known_leader: bool,
    pub consistency_level: String,
    pub not_modified: bool,
    /// 0 is Consul's `QueryBackendBlocking`.
    pub backend: u8,
    #[serde(rename = "ResultsFilteredByACLs")]
    pub results_filtered_by_acls: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: &[u8], session: &str) -> KvEntryJson {
        KvEntryJson {
            lock_index: 1,
            key: "web/config".to_string(),
            flags: u64::MAX,
            value: value.to_vec(),
            session: session.to_string(),
            create_index: 5,
            modify_index: 7,
        }
    }

    #[test]
    fn entry_fields_are_in_consuls_order_with_base64_value() {
        let json = serde_json::to_string(&entry(b"hello", "")).unwrap();
        assert_eq!(
            json,
            r#"{"LockIndex":1,"Key":"web/config","Flags":18446744073709551615,"Value":"aGVsbG8=","CreateIndex":5,"ModifyIndex":7}"#
        );
    }

    #[test]
    fn empty_value_is_null_and_session_shows_when_held() {
        let json = serde_json::to_string(&entry(b"", "adf4238a")).unwrap();
        assert_eq!(
            json,
            r#"{"LockIndex":1,"Key":"web/config","Flags":18446744073709551615,"Value":null,"Session":"adf4238a","CreateIndex":5,"ModifyIndex":7}"#
        );
    }

    #[test]
    fn empty_key_list_is_an_empty_array() {
        let keys: KeyListJson = Vec::new();
        assert_eq!(serde_json::to_string(&keys).unwrap(), "[]");
    }

    #[test]
    fn applied_txn_has_results_and_null_errors() {
        let body = TxnResponseJson::applied(vec![TxnResultJson { kv: entry(b"", "") }]);
        let json = serde_json::to_string(&body).unwrap();
        assert!(json.starts_with(r#"{"Results":[{"KV":{"LockIndex":1,"#));
        assert!(json.ends_with(r#""ModifyIndex":7}}],"Errors":null}"#));
    }

    #[test]
    fn rejected_txn_has_null_results_and_op_errors() {
        let body = TxnResponseJson::rejected(vec![TxnErrorJson {
            op_index: 0,
            what: "Must provide key".to_string(),
        }]);
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"Results":null,"Errors":[{"OpIndex":0,"What":"Must provide key"}]}"#
        );
    }

    #[test]
    fn read_only_txn_carries_query_meta_after_errors() {
        let body = TxnResponseJson::applied(Vec::new()).with_read_meta(TxnReadMetaJson {
            index: 0,
            last_contact: 0,
            known_leader: true,
            consistency_level: String::new(),
            not_modified: false,
            backend: 0,
            results_filtered_by_acls: false,
        });
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"Results":[],"Errors":null,"Index":0,"LastContact":0,"KnownLeader":true,"ConsistencyLevel":"","NotModified":false,"Backend":0,"ResultsFilteredByACLs":false}"#
        );
    }
}
