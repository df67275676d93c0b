//! The keys of a resource's search rows, kept on its row (`resources.index_keys`) on both stores.

use super::IndexEntry;

/// The keys of a resource's search rows, `[[param, system, value], ...]`, kept on its row so an
/// update can delete exactly those rows.
pub(super) fn index_keys(index: &[IndexEntry]) -> String {
    let keys: Vec<[&str; 3]> = index
        .iter()
        .map(|e| [e.param, e.system.as_str(), e.value.as_str()])
        .collect();
    serde_json::Value::from(keys).to_string()
}
