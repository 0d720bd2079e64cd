//! Consul's catalog registrations as they travel: a `RegisterRequest` (a
//! node with its meta and tagged addresses, optionally one service, and
//! checks) and a `DeregisterRequest` (a node, or one of its services or
//! checks). The same bytes are a Raft command's body, a client request's
//! payload, and a snapshot's services section, so one decoder with one set
//! of bounds reads all three. Layout in `wire-spec.md` (9.4).

use std::collections::BTreeMap;

use super::error::WireError;
use super::reader::Reader;
use super::writer::WriteExt;

/// Consul's `metaMaxKeyPairs`, `metaKeyMaxLength`, `metaValueMaxLength`.
pub const MAX_META_PAIRS: usize = 64;
pub const MAX_META_KEY_BYTES: usize = 128;
pub const MAX_META_VALUE_BYTES: usize = 512;
/// Consul reserves meta keys with this prefix for itself.
pub const RESERVED_META_PREFIX: &str = "consul-";
/// Names, IDs, tags, addresses: Consul sets no limit; DNS labels and
/// every real deployment stay far below it.
pub const MAX_IDENTIFIER_BYTES: usize = 255;
/// Tags of one service.
pub const MAX_TAGS: usize = 128;
/// Tagged addresses of one node or service.
pub const MAX_TAGGED_ADDRESSES: usize = 16;
/// Checks in one registration.
pub const MAX_CHECKS_PER_REGISTRATION: usize = 64;
/// A check's output: Consul's default `check_output_max_size`.
pub const MAX_CHECK_OUTPUT_BYTES: usize = 4096;
/// A check's notes.
pub const MAX_CHECK_NOTES_BYTES: usize = 4096;
/// An HTTP check's URL, or a TCP check's address.
pub const MAX_CHECK_TARGET_BYTES: usize = 1024;

/// Consul's `api.AgentWeights`; both 1 when a registration gives none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct Weights {
    pub passing: u32,
    pub warning: u32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            passing: 1,
            warning: 1,
        }
    }
}

/// A service's tagged address (`ServiceAddress{Address, Port}`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct ServiceAddress {
    pub address: String,
    pub port: u16,
}

/// Consul's `NodeService`: one instance of a service on a node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct ServiceDefinition {
    pub id: String,
    pub service: String,
    pub tags: Vec<String>,
    pub address: String,
    pub port: u16,
    pub meta: BTreeMap<String, String>,
    pub weights: Weights,
    pub enable_tag_override: bool,
    pub tagged_addresses: BTreeMap<String, ServiceAddress>,
}

/// A check's health, as Consul spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum CheckStatus {
    Passing,
    Warning,
    Critical,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Passing => "passing",
            CheckStatus::Warning => "warning",
            CheckStatus::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<CheckStatus> {
        match text {
            "passing" => Some(CheckStatus::Passing),
            "warning" => Some(CheckStatus::Warning),
            "critical" => Some(CheckStatus::Critical),
            _ => None,
        }
    }

    pub fn to_byte(self) -> u8 {
        match self {
            CheckStatus::Passing => 0,
            CheckStatus::Warning => 1,
            CheckStatus::Critical => 2,
        }
    }

    pub fn from_byte(byte: u8) -> Result<CheckStatus, WireError> {
        match byte {
            0 => Ok(CheckStatus::Passing),
            1 => Ok(CheckStatus::Warning),
            2 => Ok(CheckStatus::Critical),
            other => Err(WireError::InvalidValue {
                field: "check.status",
                value: u64::from(other),
            }),
        }
    }
}

/// Consul's `HealthCheckDefinition`, the parts the catalog shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct CheckDefinitionFields {
    pub http: String,
    pub method: String,
    pub tcp: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub deregister_critical_service_after_ms: u64,
}

/// Consul's `HealthCheck`. An empty `service_id` is a node-level check;
/// `service_name` and `service_tags` are the state's copy of the service's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct CheckDefinition {
    pub check_id: String,
    pub name: String,
    pub status: CheckStatus,
    pub notes: String,
    pub output: String,
    pub service_id: String,
    pub service_name: String,
    pub service_tags: Vec<String>,
    pub check_type: String,
    pub definition: CheckDefinitionFields,
}

/// Consul's `RegisterRequest`, applied atomically: the node (created or
/// updated), then the service, then each check.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct RegisterRequest {
    pub node: String,
    pub address: String,
    pub datacenter: String,
    pub node_meta: BTreeMap<String, String>,
    pub tagged_addresses: BTreeMap<String, String>,
    pub service: Option<ServiceDefinition>,
    /// Consul's `Check` and `Checks` together.
    pub checks: Vec<CheckDefinition>,
}

/// What a `DeregisterRequest` removes from its node.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum DeregisterTarget {
    /// The node, with its services and checks.
    Node,
    /// One service, with its checks.
    Service(String),
    Check(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct DeregisterRequest {
    pub node: String,
    pub target: DeregisterTarget,
}

fn too_long(what: &str, len: usize, max: usize) -> Option<String> {
    (len > max).then(|| format!("{what} is {len} bytes, limit {max}"))
}

fn too_many(what: &str, count: usize, max: usize) -> Option<String> {
    (count > max).then(|| format!("{count} {what}, limit {max}"))
}

/// Consul's `validateMetaPair` and the limits around it: `allow_reserved`
/// for node meta, which carries Consul's own `consul-network-segment`.
pub fn meta_error(meta: &BTreeMap<String, String>, allow_reserved: bool) -> Option<String> {
    if let Some(err) = too_many("meta pairs", meta.len(), MAX_META_PAIRS) {
        return Some(format!(
            "Node metadata cannot contain more than {MAX_META_PAIRS} key/value pairs ({err})"
        ));
    }
    meta.iter().find_map(|(key, value)| {
        if key.is_empty() {
            return Some("Key cannot be blank".to_string());
        }
        if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Some(format!(
                "Key contains invalid characters: {key:?} (letters, digits, '_' and '-' only)"
            ));
        }
        if key.len() > MAX_META_KEY_BYTES {
            return Some(format!(
                "Key is too long (limit: {MAX_META_KEY_BYTES} characters)"
            ));
        }
        if !allow_reserved && key.starts_with(RESERVED_META_PREFIX) {
            return Some(format!(
                "Key prefix '{RESERVED_META_PREFIX}' is reserved for internal use"
            ));
        }
        if value.len() > MAX_META_VALUE_BYTES {
            return Some(format!(
                "Value is too long (limit: {MAX_META_VALUE_BYTES} characters)"
            ));
        }
        None
    })
}

fn strings_error(what: &str, items: &[String], max_count: usize) -> Option<String> {
    too_many(what, items.len(), max_count).or_else(|| {
        items
            .iter()
            .find_map(|item| too_long(what, item.len(), MAX_IDENTIFIER_BYTES))
    })
}

impl ServiceDefinition {
    pub fn limits_error(&self) -> Option<String> {
        too_long("service ID", self.id.len(), MAX_IDENTIFIER_BYTES)
            .or_else(|| too_long("service name", self.service.len(), MAX_IDENTIFIER_BYTES))
            .or_else(|| too_long("service address", self.address.len(), MAX_IDENTIFIER_BYTES))
            .or_else(|| strings_error("service tags", &self.tags, MAX_TAGS))
            .or_else(|| meta_error(&self.meta, false))
            .or_else(|| {
                too_many(
                    "service tagged addresses",
                    self.tagged_addresses.len(),
                    MAX_TAGGED_ADDRESSES,
                )
            })
            .or_else(|| {
                self.tagged_addresses.iter().find_map(|(tag, address)| {
                    too_long("tagged address tag", tag.len(), MAX_IDENTIFIER_BYTES).or_else(|| {
                        too_long(
                            "tagged address",
                            address.address.len(),
                            MAX_IDENTIFIER_BYTES,
                        )
                    })
                })
            })
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.put_string(&self.id);
        out.put_string(&self.service);
        put_strings(out, &self.tags);
        out.put_string(&self.address);
        out.put_u16(self.port);
        put_string_map(out, &self.meta);
        out.put_u32(self.weights.passing);
        out.put_u32(self.weights.warning);
        out.put_bool(self.enable_tag_override);
        out.put_count(self.tagged_addresses.len());
        for (tag, address) in &self.tagged_addresses {
            out.put_string(tag);
            out.put_string(&address.address);
            out.put_u16(address.port);
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<ServiceDefinition, WireError> {
        let id = r.string("service.id", MAX_IDENTIFIER_BYTES)?;
        let service = r.string("service.name", MAX_IDENTIFIER_BYTES)?;
        let tags = read_strings(r, "service.tag", MAX_TAGS)?;
        let address = r.string("service.address", MAX_IDENTIFIER_BYTES)?;
        let port = r.u16()?;
        let meta = read_meta(r, "service.meta")?;
        let weights = Weights {
            passing: r.u32()?,
            warning: r.u32()?,
        };
        let enable_tag_override = r.bool("service.enable_tag_override")?;
        let count = r.count_at_most(4 + 4 + 2, MAX_TAGGED_ADDRESSES, "service.tagged_count")?;
        let mut tagged_addresses = BTreeMap::new();
        for _ in 0..count {
            let tag = r.string("service.tagged_tag", MAX_IDENTIFIER_BYTES)?;
            let address = ServiceAddress {
                address: r.string("service.tagged_address", MAX_IDENTIFIER_BYTES)?,
                port: r.u16()?,
            };
            insert_in_order(&mut tagged_addresses, tag, address, "service.tagged_tag")?;
        }
        Ok(ServiceDefinition {
            id,
            service,
            tags,
            address,
            port,
            meta,
            weights,
            enable_tag_override,
            tagged_addresses,
        })
    }
}

impl CheckDefinition {
    /// A node-level check with Consul's defaults for the rest.
    pub fn node_check(check_id: &str, name: &str, status: CheckStatus, output: &str) -> Self {
        CheckDefinition {
            check_id: check_id.into(),
            name: name.into(),
            status,
            notes: String::new(),
            output: output.into(),
            service_id: String::new(),
            service_name: String::new(),
            service_tags: Vec::new(),
            check_type: String::new(),
            definition: CheckDefinitionFields::default(),
        }
    }

    pub fn limits_error(&self) -> Option<String> {
        let d = &self.definition;
        too_long("check ID", self.check_id.len(), MAX_IDENTIFIER_BYTES)
            .or_else(|| too_long("check name", self.name.len(), MAX_IDENTIFIER_BYTES))
            .or_else(|| too_long("check notes", self.notes.len(), MAX_CHECK_NOTES_BYTES))
            .or_else(|| too_long("check output", self.output.len(), MAX_CHECK_OUTPUT_BYTES))
            .or_else(|| {
                too_long(
                    "check service ID",
                    self.service_id.len(),
                    MAX_IDENTIFIER_BYTES,
                )
            })
            .or_else(|| {
                too_long(
                    "check service name",
                    self.service_name.len(),
                    MAX_IDENTIFIER_BYTES,
                )
            })
            .or_else(|| strings_error("check service tags", &self.service_tags, MAX_TAGS))
            .or_else(|| too_long("check type", self.check_type.len(), MAX_IDENTIFIER_BYTES))
            .or_else(|| too_long("check HTTP", d.http.len(), MAX_CHECK_TARGET_BYTES))
            .or_else(|| too_long("check method", d.method.len(), MAX_IDENTIFIER_BYTES))
            .or_else(|| too_long("check TCP", d.tcp.len(), MAX_CHECK_TARGET_BYTES))
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.put_string(&self.check_id);
        out.put_string(&self.name);
        out.put_u8(self.status.to_byte());
        out.put_string(&self.notes);
        out.put_string(&self.output);
        out.put_string(&self.service_id);
        out.put_string(&self.service_name);
        put_strings(out, &self.service_tags);
        out.put_string(&self.check_type);
        let d = &self.definition;
        out.put_string(&d.http);
        out.put_string(&d.method);
        out.put_string(&d.tcp);
        out.put_u64(d.interval_ms);
        out.put_u64(d.timeout_ms);
        out.put_u64(d.deregister_critical_service_after_ms);
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<CheckDefinition, WireError> {
        Ok(CheckDefinition {
            check_id: r.string("check.id", MAX_IDENTIFIER_BYTES)?,
            name: r.string("check.name", MAX_IDENTIFIER_BYTES)?,
            status: CheckStatus::from_byte(r.u8()?)?,
            notes: r.string("check.notes", MAX_CHECK_NOTES_BYTES)?,
            output: r.string("check.output", MAX_CHECK_OUTPUT_BYTES)?,
            service_id: r.string("check.service_id", MAX_IDENTIFIER_BYTES)?,
            service_name: r.string("check.service_name", MAX_IDENTIFIER_BYTES)?,
            service_tags: read_strings(r, "check.service_tag", MAX_TAGS)?,
            check_type: r.string("check.type", MAX_IDENTIFIER_BYTES)?,
            definition: CheckDefinitionFields {
                http: r.string("check.http", MAX_CHECK_TARGET_BYTES)?,
                method: r.string("check.method", MAX_IDENTIFIER_BYTES)?,
                tcp: r.string("check.tcp", MAX_CHECK_TARGET_BYTES)?,
                interval_ms: r.u64()?,
                timeout_ms: r.u64()?,
                deregister_critical_service_after_ms: r.u64()?,
            },
        })
    }
}

/// Smallest encoded check: nine empty strings, a status, a tag count, three
/// u64.
const MIN_CHECK_BYTES: usize = 9 * 4 + 1 + 4 + 3 * 8;

impl RegisterRequest {
    /// Why the request would not decode, or `None`. Checked before a
    /// command is proposed.
    pub fn limits_error(&self) -> Option<String> {
        too_long("node name", self.node.len(), MAX_IDENTIFIER_BYTES)
            .or_else(|| too_long("node address", self.address.len(), MAX_IDENTIFIER_BYTES))
            .or_else(|| too_long("datacenter", self.datacenter.len(), MAX_IDENTIFIER_BYTES))
            .or_else(|| meta_error(&self.node_meta, true))
            .or_else(|| {
                too_many(
                    "node tagged addresses",
                    self.tagged_addresses.len(),
                    MAX_TAGGED_ADDRESSES,
                )
            })
            .or_else(|| {
                self.tagged_addresses.iter().find_map(|(tag, address)| {
                    too_long("tagged address tag", tag.len(), MAX_IDENTIFIER_BYTES)
                        .or_else(|| too_long("tagged address", address.len(), MAX_IDENTIFIER_BYTES))
                })
            })
            .or_else(|| {
                self.service
                    .as_ref()
                    .and_then(ServiceDefinition::limits_error)
            })
            .or_else(|| too_many("checks", self.checks.len(), MAX_CHECKS_PER_REGISTRATION))
            .or_else(|| self.checks.iter().find_map(CheckDefinition::limits_error))
    }

    /// At least the encoded size.
    pub fn len_bound(&self) -> usize {
        let mut out = Vec::new();
        self.encode(&mut out);
        out.len()
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_string(&self.node);
        out.put_string(&self.address);
        out.put_string(&self.datacenter);
        put_string_map(out, &self.node_meta);
        put_string_map(out, &self.tagged_addresses);
        match &self.service {
            None => out.put_u8(0),
            Some(service) => {
                out.put_u8(1);
                service.encode_into(out);
            }
        }
        out.put_count(self.checks.len());
        for check in &self.checks {
            check.encode_into(out);
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<RegisterRequest, WireError> {
        let node = r.string("register.node", MAX_IDENTIFIER_BYTES)?;
        let address = r.string("register.address", MAX_IDENTIFIER_BYTES)?;
        let datacenter = r.string("register.datacenter", MAX_IDENTIFIER_BYTES)?;
        let node_meta = read_meta(r, "register.node_meta")?;
        let tagged_count = r.count_at_most(8, MAX_TAGGED_ADDRESSES, "register.tagged_count")?;
        let mut tagged_addresses = BTreeMap::new();
        for _ in 0..tagged_count {
            let tag = r.string("register.tagged_tag", MAX_IDENTIFIER_BYTES)?;
            let address = r.string("register.tagged_address", MAX_IDENTIFIER_BYTES)?;
            insert_in_order(&mut tagged_addresses, tag, address, "register.tagged_tag")?;
        }
        let service = if r.bool("register.service_present")? {
            Some(ServiceDefinition::decode(r)?)
        } else {
            None
        };
        let check_count = r.count_at_most(
            MIN_CHECK_BYTES,
            MAX_CHECKS_PER_REGISTRATION,
            "register.checks",
        )?;
        let mut checks = Vec::with_capacity(check_count);
        for _ in 0..check_count {
            checks.push(CheckDefinition::decode(r)?);
        }
        Ok(RegisterRequest {
            node,
            address,
            datacenter,
            node_meta,
            tagged_addresses,
            service,
            checks,
        })
    }
}

impl DeregisterRequest {
    pub fn limits_error(&self) -> Option<String> {
        let id = match &self.target {
            DeregisterTarget::Node => "",
            DeregisterTarget::Service(id) | DeregisterTarget::Check(id) => id,
        };
        too_long("node name", self.node.len(), MAX_IDENTIFIER_BYTES)
            .or_else(|| too_long("ID", id.len(), MAX_IDENTIFIER_BYTES))
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_string(&self.node);
        match &self.target {
            DeregisterTarget::Node => out.put_u8(0),
            DeregisterTarget::Service(id) => {
                out.put_u8(1);
                out.put_string(id);
            }
            DeregisterTarget::Check(id) => {
                out.put_u8(2);
                out.put_string(id);
            }
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<DeregisterRequest, WireError> {
        let node = r.string("deregister.node", MAX_IDENTIFIER_BYTES)?;
        let target = match r.u8()? {
            0 => DeregisterTarget::Node,
            1 => DeregisterTarget::Service(r.string("deregister.service", MAX_IDENTIFIER_BYTES)?),
            2 => DeregisterTarget::Check(r.string("deregister.check", MAX_IDENTIFIER_BYTES)?),
            other => {
                return Err(WireError::InvalidValue {
                    field: "deregister.target",
                    value: u64::from(other),
                });
            }
        };
        Ok(DeregisterRequest { node, target })
    }
}

pub fn put_strings(out: &mut Vec<u8>, items: &[String]) {
    out.put_count(items.len());
    for item in items {
        out.put_string(item);
    }
}

pub fn read_strings(
    r: &mut Reader<'_>,
    field: &'static str,
    max_count: usize,
) -> Result<Vec<String>, WireError> {
    let count = r.count_at_most(4, max_count, field)?;
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        items.push(r.string(field, MAX_IDENTIFIER_BYTES)?);
    }
    Ok(items)
}

pub fn put_string_map(out: &mut Vec<u8>, map: &BTreeMap<String, String>) {
    out.put_count(map.len());
    for (key, value) in map {
        out.put_string(key);
        out.put_string(value);
    }
}

/// Meta pairs in strictly increasing key order (as written), so one map
/// has one encoding and a repeated key is refused.
pub fn read_meta(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<BTreeMap<String, String>, WireError> {
    let count = r.count_at_most(8, MAX_META_PAIRS, field)?;
    let mut meta = BTreeMap::new();
    for _ in 0..count {
        let key = r.string(field, MAX_META_KEY_BYTES)?;
        let value = r.string(field, MAX_META_VALUE_BYTES)?;
        insert_in_order(&mut meta, key, value, field)?;
    }
    Ok(meta)
}

/// Map keys are written in increasing order, so one map has one encoding:
/// a repeated or out-of-order key is refused.
fn insert_in_order<V>(
    map: &mut BTreeMap<String, V>,
    key: String,
    value: V,
    field: &'static str,
) -> Result<(), WireError> {
    if map.last_key_value().is_some_and(|(last, _)| *last >= key) {
        return Err(WireError::InvalidValue {
            field,
            value: map.len() as u64,
        });
    }
    map.insert(key, value);
    Ok(())
}

#[cfg(test)]
#[path = "catalog_registration_tests.rs"]
pub(crate) mod tests;
