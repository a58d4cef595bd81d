//! A record of every Graph and token request the emulator answered (or dropped), for tests
//! and benchmarks: `GET /_emulator/journal`, cleared by `DELETE` or `POST /_emulator/reset`.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Oldest entries are dropped beyond this, so a long benchmark can't exhaust memory.
const MAX_ENTRIES: usize = 100_000;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    /// Real time the request arrived, RFC 3339 with nanoseconds.
    pub time: String,
    /// Emulated time the request arrived.
    pub emulated_time: String,
    pub method: String,
    /// Path and query.
    pub path: String,
    /// 0 when the connection was reset without a response.
    pub status: u16,
    pub request_id: String,
    pub client_request_id: Option<String>,
    pub app: Option<String>,
    pub tenant: Option<String>,
    /// The `Retry-After` header sent, if any.
    pub retry_after: Option<String>,
    /// Which injected fault applied, if any.
    pub fault: Option<String>,
    /// Real time spent answering, including injected latency.
    pub duration_ms: f64,
    /// The JSON body of a Graph write (POST/PUT/PATCH), so tests can see exactly what a client
    /// sent. Never recorded for the token endpoint, whose form carries credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

#[derive(Debug, Default)]
pub struct Journal {
    entries: Mutex<Vec<JournalEntry>>,
}

impl Journal {
    pub fn push(&self, e: JournalEntry) {
        let mut v = self.entries.lock().unwrap();
        if v.len() >= MAX_ENTRIES {
            v.drain(..MAX_ENTRIES / 10);
        }
        v.push(e);
    }

    pub fn entries(&self) -> Vec<JournalEntry> {
        self.entries.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.entries.lock().unwrap().clear();
    }
}
