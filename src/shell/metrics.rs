//! The filter's stats in Envoy: the counters, gauges and histograms named in
//! `crate::metrics`, defined when the configuration loads. Requests add to
//! per-VM sums here, and the root context hands the sums to Envoy on its timer:
//! a request's counting costs no call into the proxy, and Envoy adds up every
//! worker's VM under one name.

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::config::Config;
use crate::metrics::{ready_name, CallOutcome, Count, Endpoint, VM_MEMORY};

/// One metric: Envoy's id for it (`None` if Envoy refused the name) and what
/// is still to add.
#[derive(Debug, Default, Clone, Copy)]
struct Sum {
    id: Option<u32>,
    pending: u64,
}

#[derive(Debug, Default)]
pub(super) struct Metrics {
    counts: Vec<Sum>,
    calls: Vec<Sum>,
    latency: Vec<Option<u32>>,
    ready: Vec<Option<u32>>,
    /// This VM's linear memory, added into a gauge every VM adds to.
    memory: Option<u32>,
    memory_reported: u64,
}

fn define(kind: MetricType, name: &str) -> Option<u32> {
    hostcalls::define_metric(kind, name).ok()
}

impl Metrics {
    /// Defines every metric, so each shows (as 0) before anything happens.
    pub(super) fn define(config: &Config) -> Self {
        let counter = |name: &str| Sum {
            id: define(MetricType::Counter, name),
            pending: 0,
        };
        Self {
            counts: Count::ALL
                .iter()
                .map(|count| counter(count.name()))
                .collect(),
            calls: Endpoint::ALL
                .iter()
                .flat_map(|endpoint| {
                    CallOutcome::ALL
                        .iter()
                        .map(move |outcome| counter(&endpoint.calls_name(*outcome)))
                })
                .collect(),
            latency: Endpoint::ALL
                .iter()
                .map(|endpoint| define(MetricType::Histogram, &endpoint.latency_name()))
                .collect(),
            ready: config
                .providers
                .iter()
                .map(|provider| define(MetricType::Gauge, &ready_name(&provider.id)))
                .collect(),
            memory: define(MetricType::Gauge, VM_MEMORY),
            memory_reported: 0,
        }
    }

    pub(super) fn count(&mut self, count: Count) {
        if let Some(sum) = self.counts.get_mut(count.index()) {
            sum.pending += 1;
        }
    }

    /// A provider call ended: counted by outcome, its latency recorded.
    pub(super) fn call(&mut self, endpoint: Endpoint, outcome: CallOutcome, millis: u64) {
        let endpoint_at = Endpoint::ALL.iter().position(|e| *e == endpoint);
        let outcome_at = CallOutcome::ALL.iter().position(|o| *o == outcome);
        if let (Some(e), Some(o)) = (endpoint_at, outcome_at) {
            if let Some(sum) = self.calls.get_mut(e * CallOutcome::ALL.len() + o) {
                sum.pending += 1;
            }
            if let Some(Some(id)) = self.latency.get(e) {
                let _ = hostcalls::record_metric(*id, millis);
            }
        }
    }

    /// Whether logins through provider `index` can run now (a gauge of 0 or 1).
    pub(super) fn set_ready(&self, index: usize, ready: bool) {
        if let Some(Some(id)) = self.ready.get(index) {
            let _ = hostcalls::record_metric(*id, u64::from(ready));
        }
    }

    /// Hands Envoy what was counted since the last time, and this VM's memory.
    pub(super) fn flush(&mut self) {
        if let Some(id) = self.memory {
            let bytes = u64::try_from(core::arch::wasm32::memory_size::<0>())
                .unwrap_or(0)
                .saturating_mul(65_536);
            if bytes != self.memory_reported {
                let delta = i64::try_from(bytes).unwrap_or(i64::MAX)
                    - i64::try_from(self.memory_reported).unwrap_or(i64::MAX);
                if hostcalls::increment_metric(id, delta).is_ok() {
                    self.memory_reported = bytes;
                }
            }
        }
        for sum in self.counts.iter_mut().chain(self.calls.iter_mut()) {
            if let (Some(id), true) = (sum.id, sum.pending > 0) {
                let delta = i64::try_from(sum.pending).unwrap_or(i64::MAX);
                if hostcalls::increment_metric(id, delta).is_ok() {
                    sum.pending = 0;
                }
            }
        }
    }
}
