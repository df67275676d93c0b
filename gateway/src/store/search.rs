//! Search queries as the store runs them, and their SQL. Values are always bound, never spliced.

use super::Instant;

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Oldest change first (the default: what a polling client wants).
    #[default]
    LastUpdatedAscending,
    /// Newest change first.
    LastUpdatedDescending,
}

/// `_lastUpdated` prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    /// `gt`
    Greater,
    /// `ge`
    GreaterOrEqual,
    /// `lt`
    Less,
    /// `le`
    LessOrEqual,
}

impl Comparator {
    fn sql(self) -> &'static str {
        match self {
            Comparator::Greater => ">",
            Comparator::GreaterOrEqual => ">=",
            Comparator::Less => "<",
            Comparator::LessOrEqual => "<=",
        }
    }
}

/// One condition; a query's criteria must all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Criterion {
    /// An indexed value equals any of these (`system` `None` = any system).
    Index {
        /// Parameter name as indexed.
        param: &'static str,
        /// Alternatives (a comma in the query string).
        any_of: Vec<(Option<String>, String)>,
    },
    /// A value indexed under any of these parameters (an organisation named as requester,
    /// performer or owner, for tenancy); with no parameters, nothing matches.
    IndexedUnderAny {
        /// Parameter names as indexed.
        params: Vec<&'static str>,
        /// The value, e.g. `Organization/A81001`.
        value: String,
    },
    /// `_lastUpdated` compared with an instant.
    LastUpdated(Comparator, Instant),
    /// Whether (`present`) or not a value at least `from` is indexed under `param` (values that
    /// sort as text as they do as numbers, e.g. a capacity's zero-padded expiry).
    IndexedFrom {
        /// Parameter name as indexed.
        param: &'static str,
        /// The smallest value that counts.
        from: String,
        /// `true`: such a value exists; `false`: none does.
        present: bool,
    },
}

/// A search the store can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// Which resource type.
    pub resource_type: String,
    /// All must match.
    pub criteria: Vec<Criterion>,
    /// Page size.
    pub count: usize,
    /// Matches to skip.
    pub offset: usize,
    /// Order.
    pub sort: SortOrder,
}

/// A value bound to a placeholder.
#[derive(Debug, Clone)]
pub(super) enum Bind {
    Text(String),
    Int(i64),
}

/// ` AND` the resource has a search row `s` meeting `condition`.
fn indexed(condition: &str) -> String {
    format!(
        " AND EXISTS (SELECT 1 FROM search_index s WHERE s.resource_type = r.resource_type \
         AND s.resource_id = r.id AND {condition})"
    )
}

/// The `FROM ... WHERE ...` part shared by the page and count queries, with its binds.
pub(super) fn where_clause(query: &SearchQuery) -> (String, Vec<Bind>) {
    let mut binds = vec![Bind::Text(query.resource_type.clone())];
    let mut sql = String::from("FROM resources r WHERE r.resource_type = $1");
    let next = |binds: &mut Vec<Bind>, b: Bind| {
        binds.push(b);
        format!("${}", binds.len())
    };
    for criterion in &query.criteria {
        match criterion {
            Criterion::Index { param, any_of } => {
                let p = next(&mut binds, Bind::Text((*param).to_owned()));
                let alternatives: Vec<String> = any_of
                    .iter()
                    .map(|(system, value)| {
                        let v = next(&mut binds, Bind::Text(value.clone()));
                        match system {
                            Some(system) => {
                                let s = next(&mut binds, Bind::Text(system.clone()));
                                format!("(s.value = {v} AND s.system = {s})")
                            }
                            None => format!("s.value = {v}"),
                        }
                    })
                    .collect();
                sql.push_str(&indexed(&format!(
                    "s.param = {p} AND ({})",
                    alternatives.join(" OR ")
                )));
            }
            Criterion::IndexedUnderAny { params, .. } if params.is_empty() => {
                sql.push_str(" AND 1 = 0");
            }
            Criterion::IndexedUnderAny { params, value } => {
                let names: Vec<String> = params
                    .iter()
                    .map(|p| next(&mut binds, Bind::Text((*p).to_owned())))
                    .collect();
                let v = next(&mut binds, Bind::Text(value.clone()));
                sql.push_str(&indexed(&format!(
                    "s.param IN ({}) AND s.value = {v}",
                    names.join(", ")
                )));
            }
            Criterion::IndexedFrom {
                param,
                from,
                present,
            } => {
                let p = next(&mut binds, Bind::Text((*param).to_owned()));
                let v = next(&mut binds, Bind::Text(from.clone()));
                let condition = indexed(&format!("s.param = {p} AND s.value >= {v}"));
                if *present {
                    sql.push_str(&condition);
                } else {
                    sql.push_str(&condition.replacen(" AND EXISTS", " AND NOT EXISTS", 1));
                }
            }
            Criterion::LastUpdated(cmp, at) => {
                let t = next(&mut binds, Bind::Int(at.0));
                sql.push_str(&format!(" AND r.last_updated_us {} {t}", cmp.sql()));
            }
        }
    }
    (sql, binds)
}

/// The page query: columns, order, limit and offset.
pub(super) fn page_sql(query: &SearchQuery, body: &str) -> (String, Vec<Bind>) {
    let (from, mut binds) = where_clause(query);
    let order = match query.sort {
        SortOrder::LastUpdatedAscending => "r.last_updated_us ASC, r.id ASC",
        SortOrder::LastUpdatedDescending => "r.last_updated_us DESC, r.id DESC",
    };
    binds.push(Bind::Int(i64::try_from(query.count).unwrap_or(i64::MAX)));
    let limit = binds.len();
    binds.push(Bind::Int(i64::try_from(query.offset).unwrap_or(i64::MAX)));
    let offset = binds.len();
    (
        format!(
            "SELECT r.resource_type, r.id, r.version, r.last_updated_us, {body} AS body {from} ORDER BY {order} LIMIT ${limit} OFFSET ${offset}"
        ),
        binds,
    )
}

/// Reads given versions of several resources (`$1`, `$2`, `$3` the first's type, id and version,
/// and so on) from `versions`, the table or view holding every version, selecting `body` as the
/// backend needs it.
pub(super) fn versions_sql(keys: usize, body: &str, versions: &str) -> String {
    let any: Vec<String> = (0..keys)
        .map(|i| {
            format!(
                "(resource_type = ${} AND id = ${} AND version = ${})",
                3 * i + 1,
                3 * i + 2,
                3 * i + 3
            )
        })
        .collect();
    format!(
        "SELECT resource_type, id, version, last_updated_us, {body} FROM {versions} WHERE {}",
        any.join(" OR ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_a_placeholder() {
        let query = SearchQuery {
            resource_type: "Task".into(),
            criteria: vec![
                Criterion::Index {
                    param: "status",
                    any_of: vec![(None, "requested' OR 1=1 --".into())],
                },
                Criterion::LastUpdated(Comparator::Greater, Instant(5)),
            ],
            count: 10,
            offset: 0,
            sort: SortOrder::default(),
        };
        let (sql, binds) = page_sql(&query, "r.body");
        assert!(!sql.contains("requested"), "{sql}");
        assert_eq!(binds.len(), 6);
        assert!(sql.contains("LIMIT $5 OFFSET $6"), "{sql}");
    }
}
