//! The agent's metrics: gauges, counters and samples by name and labels,
//! as go-metrics keeps them. Every series set is bounded: label values
//! come from fixed sets (the router's endpoint patterns, known methods,
//! status codes), and each kind holds at most [`MAX_SERIES_PER_KIND`]
//! series; past it, updates to new series are dropped (and counted), so
//! no input can grow the registry.

use std::collections::BTreeMap;
use std::time::Instant;

use super::summary::Summary;

/// Series per kind (gauges, counters, samples).
pub const MAX_SERIES_PER_KIND: usize = 256;

pub use super::series_key::{Label, SeriesKey};

#[derive(Debug, Clone, Default)]
pub struct Registry {
    gauges: BTreeMap<SeriesKey, f64>,
    counters: BTreeMap<SeriesKey, Summary>,
    samples: BTreeMap<SeriesKey, Summary>,
    dropped_updates: u64,
}

impl Registry {
    pub fn new() -> Self {
        Registry::default()
    }

    pub fn set_gauge(&mut self, name: &str, labels: &[Label], value: f64) {
        self.set_gauge_key(SeriesKey::new(name, labels), value);
    }

    /// go-metrics' `IncrCounter`: each increment is one value of the
    /// counter's summary; Prometheus shows the running sum.
    pub fn incr_counter(&mut self, name: &str, labels: &[Label], by: f64) {
        if !record(&mut self.counters, name, labels, Summary::counter, by) {
            self.dropped_updates += 1;
        }
    }

    /// go-metrics' `AddSample`.
    pub fn add_sample(&mut self, name: &str, labels: &[Label], value: f64) {
        if !record(&mut self.samples, name, labels, Summary::sample, value) {
            self.dropped_updates += 1;
        }
    }

    /// go-metrics' `MeasureSince`: a duration as a sample in milliseconds.
    /// The instants come from the seam's clock.
    pub fn measure(&mut self, name: &str, labels: &[Label], start: Instant, end: Instant) {
        let elapsed_ms = end.saturating_duration_since(start).as_secs_f64() * 1000.0;
        self.add_sample(name, labels, elapsed_ms);
    }

    /// Adds `other`'s series to ours (the Raft host keeps its own).
    pub fn merge(&mut self, other: &Registry) {
        for (key, value) in &other.gauges {
            self.set_gauge_key(key.clone(), *value);
        }
        for (key, theirs) in &other.counters {
            match series_at(&mut self.counters, key.clone(), Summary::counter) {
                Some(mine) => mine.merge(theirs),
                None => self.dropped_updates += 1,
            }
        }
        for (key, theirs) in &other.samples {
            match series_at(&mut self.samples, key.clone(), Summary::sample) {
                Some(mine) => mine.merge(theirs),
                None => self.dropped_updates += 1,
            }
        }
        self.dropped_updates += other.dropped_updates;
    }

    fn set_gauge_key(&mut self, key: SeriesKey, value: f64) {
        if self.gauges.len() >= MAX_SERIES_PER_KIND && !self.gauges.contains_key(&key) {
            self.dropped_updates += 1;
            return;
        }
        self.gauges.insert(key, value);
    }

    pub fn gauges(&self) -> &BTreeMap<SeriesKey, f64> {
        &self.gauges
    }

    pub fn counters(&self) -> &BTreeMap<SeriesKey, Summary> {
        &self.counters
    }

    pub fn samples(&self) -> &BTreeMap<SeriesKey, Summary> {
        &self.samples
    }

    /// Updates dropped because their kind was full.
    pub fn dropped_updates(&self) -> u64 {
        self.dropped_updates
    }
}

/// Records `value` in the series of `name` and `labels`: found with one
/// lookup and no allocation when it exists (unlabelled), created if there
/// is room. False when the kind is full.
fn record(
    map: &mut BTreeMap<SeriesKey, Summary>,
    name: &str,
    labels: &[Label],
    create: fn() -> Summary,
    value: f64,
) -> bool {
    if let Some(summary) = map.get_mut(&*SeriesKey::lookup_text(name, labels)) {
        summary.record(value);
        return true;
    }
    match series_at(map, SeriesKey::new(name, labels), create) {
        Some(summary) => {
            summary.record(value);
            true
        }
        None => false,
    }
}

/// The series at `key`, created if there is room.
fn series_at(
    map: &mut BTreeMap<SeriesKey, Summary>,
    key: SeriesKey,
    create: fn() -> Summary,
) -> Option<&mut Summary> {
    if map.len() >= MAX_SERIES_PER_KIND && !map.contains_key(&key) {
        return None;
    }
    Some(map.entry(key).or_insert_with(create))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn labels_are_sorted_and_series_kept_apart() {
        let mut registry = Registry::new();
        registry.incr_counter("c", &[("path", "v1_kv_"), ("method", "GET")], 1.0);
        registry.incr_counter("c", &[("method", "GET"), ("path", "v1_kv_")], 2.0);
        registry.incr_counter("c", &[("method", "PUT"), ("path", "v1_kv_")], 1.0);
        assert_eq!(registry.counters().len(), 2);
        let key = SeriesKey::new("c", &[("method", "GET"), ("path", "v1_kv_")]);
        assert_eq!(key.labels[0].0, "method");
        let summary = &registry.counters()[&key];
        assert_eq!((summary.count, summary.sum), (2, 3.0));
    }

    #[test]
    fn measure_records_milliseconds() {
        let mut registry = Registry::new();
        let start = Instant::now();
        registry.measure("t", &[], start, start + Duration::from_micros(2500));
        registry.measure("t", &[], start + Duration::from_secs(1), start);
        let summary = &registry.samples()[&SeriesKey::new("t", &[])];
        assert_eq!((summary.count, summary.max, summary.min), (2, 2.5, 0.0));
    }

    #[test]
    fn each_kind_is_bounded() {
        let mut registry = Registry::new();
        for i in 0..MAX_SERIES_PER_KIND + 10 {
            let value = i.to_string();
            registry.incr_counter("c", &[("n", &value)], 1.0);
            registry.add_sample("s", &[("n", &value)], 1.0);
            registry.set_gauge("g", &[("n", &value)], 1.0);
        }
        assert_eq!(registry.counters().len(), MAX_SERIES_PER_KIND);
        assert_eq!(registry.samples().len(), MAX_SERIES_PER_KIND);
        assert_eq!(registry.gauges().len(), MAX_SERIES_PER_KIND);
        assert_eq!(registry.dropped_updates(), 30);
        // An existing series still takes updates.
        registry.incr_counter("c", &[("n", "0")], 1.0);
        assert_eq!(registry.dropped_updates(), 30);
    }

    #[test]
    fn merge_combines_series_of_the_same_key() {
        let (mut agent, mut raft) = (Registry::new(), Registry::new());
        agent.incr_counter("c", &[], 1.0);
        raft.incr_counter("c", &[], 2.0);
        raft.add_sample("s", &[], 4.0);
        raft.set_gauge("g", &[], 7.0);
        agent.merge(&raft);
        assert_eq!(agent.counters()[&SeriesKey::new("c", &[])].sum, 3.0);
        assert_eq!(agent.samples()[&SeriesKey::new("s", &[])].count, 1);
        assert_eq!(agent.gauges()[&SeriesKey::new("g", &[])], 7.0);
    }
}
