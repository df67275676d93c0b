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
    /// sort as text as they do as numbers, e.g. a capacity's zero-padded expiry). Each such
    /// parameter has a partial index by resource in both stores' migrations
    /// (`search_index_expiry` for `capacity-until`), or the test scans the range per candidate.
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

/// Parameters whose values are shared by a large part of a type's resources (a flag, a status):
/// a query is not started from their rows while a rarer criterion is at hand.
const COMMON_VALUES: &[&str] = &[
    "active", "status", "capacity", "action", "outcome", "subtype",
];

/// The criterion a query starts from: the equality most likely to match fewest rows. Without
/// one, every resource of the type is tested against each criterion, so a search's cost grows
/// with the table rather than with its matches (10,000 directory entries: issue 24).
fn driving(criteria: &[Criterion]) -> Option<usize> {
    let rank = |c: &Criterion| match c {
        Criterion::Index { param, .. } if !COMMON_VALUES.contains(param) => Some(0),
        Criterion::IndexedUnderAny { params, .. } if !params.is_empty() => Some(1),
        Criterion::Index { .. } => Some(2),
        _ => None,
    };
    criteria
        .iter()
        .enumerate()
        .filter_map(|(i, c)| rank(c).map(|r| (r, i)))
        .min()
        .map(|(_, i)| i)
}

/// The condition on a search row `s` that a criterion needs, or `None` for one that is not an
/// equality on search rows (`_lastUpdated`, a range) or matches nothing.
fn row_condition(
    criterion: &Criterion,
    binds: &mut Vec<Bind>,
    next: &impl Fn(&mut Vec<Bind>, Bind) -> String,
) -> Option<String> {
    match criterion {
        Criterion::Index { param, any_of } => {
            let p = next(binds, Bind::Text((*param).to_owned()));
            let alternatives: Vec<String> = any_of
                .iter()
                .map(|(system, value)| {
                    let v = next(binds, Bind::Text(value.clone()));
                    match system {
                        Some(system) => {
                            let s = next(binds, Bind::Text(system.clone()));
                            format!("(s.value = {v} AND s.system = {s})")
                        }
                        None => format!("s.value = {v}"),
                    }
                })
                .collect();
            Some(format!("s.param = {p} AND ({})", alternatives.join(" OR ")))
        }
        Criterion::IndexedUnderAny { params, .. } if params.is_empty() => None,
        Criterion::IndexedUnderAny { params, value } => {
            let names: Vec<String> = params
                .iter()
                .map(|p| next(binds, Bind::Text((*p).to_owned())))
                .collect();
            let v = next(binds, Bind::Text(value.clone()));
            Some(format!(
                "s.param IN ({}) AND s.value = {v}",
                names.join(", ")
            ))
        }
        // Ranges are tested per resource (see `where_clause`), never a query's starting rows.
        Criterion::IndexedFrom { .. } | Criterion::LastUpdated(..) => None,
    }
}

/// The `FROM ... WHERE ...` part shared by the page and count queries, with its binds.
pub(super) fn where_clause(query: &SearchQuery) -> (String, Vec<Bind>) {
    let mut binds = vec![Bind::Text(query.resource_type.clone())];
    let next = |binds: &mut Vec<Bind>, b: Bind| {
        binds.push(b);
        format!("${}", binds.len())
    };
    let mut sql = String::from("FROM resources r WHERE r.resource_type = $1");
    let mut start = None;
    if let Some(i) = driving(&query.criteria)
        && let Some(condition) = row_condition(&query.criteria[i], &mut binds, &next)
    {
        let t = next(&mut binds, Bind::Text(query.resource_type.clone()));
        // `CROSS JOIN` keeps SQLite's planner from reordering the join (it would rather walk
        // the type's rows in page order); PostgreSQL plans it as any inner join.
        sql = format!(
            "FROM (SELECT DISTINCT s.resource_id FROM search_index s WHERE s.resource_type = $1 \
             AND {condition}) m CROSS JOIN resources r WHERE r.resource_type = {t} AND r.id = m.resource_id"
        );
        start = Some(i);
    }
    for (i, criterion) in query.criteria.iter().enumerate() {
        if Some(i) == start {
            continue;
        }
        match criterion {
            Criterion::LastUpdated(cmp, at) => {
                let t = next(&mut binds, Bind::Int(at.0));
                sql.push_str(&format!(" AND r.last_updated_us {} {t}", cmp.sql()));
            }
            // Tested per candidate through the partial index on the range's rows by resource
            // (`search_index_expiry`). Built as a set instead, PostgreSQL turned it into a
            // semi-join rescanning the whole range for each candidate (2 ms each at 10,000
            // services, issue 24); the parameter is written as a literal because a planner uses
            // a partial index only when the query states its condition.
            Criterion::IndexedFrom {
                param,
                from,
                present,
            } => {
                let v = next(&mut binds, Bind::Text(from.clone()));
                let name = if param.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
                    format!("'{param}'")
                } else {
                    next(&mut binds, Bind::Text((*param).to_owned()))
                };
                sql.push_str(&format!(
                    " AND {}EXISTS (SELECT 1 FROM search_index s WHERE s.resource_type = r.resource_type \
                     AND s.resource_id = r.id AND s.param = {name} AND s.value >= {v})",
                    if *present { "" } else { "NOT " }
                ));
            }
            _ => match row_condition(criterion, &mut binds, &next) {
                Some(condition) => sql.push_str(&indexed(&condition)),
                None => sql.push_str(" AND 1 = 0"),
            },
        }
    }
    (sql, binds)
}

/// The page query: columns, the number of matches (so a page needs one statement, not a second
/// for its total, unless the page is empty), order, limit and offset.
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
            "SELECT r.resource_type, r.id, r.version, r.last_updated_us, {body} AS body, COUNT(*) OVER () AS total {from} ORDER BY {order} LIMIT ${limit} OFFSET ${offset}"
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
        assert_eq!(
            binds.len(),
            7,
            "the type is bound again for the rows it starts from"
        );
        assert!(sql.contains("LIMIT $6 OFFSET $7"), "{sql}");
    }

    #[test]
    fn a_query_starts_from_its_rarest_criterion() {
        let index = |param: &'static str| Criterion::Index {
            param,
            any_of: vec![(None, "x".into())],
        };
        let criteria = vec![
            index("active"),
            Criterion::IndexedFrom {
                param: "capacity-until",
                from: "1".into(),
                present: true,
            },
            index("capacity"),
            index("service-category"),
            index("postcode"),
        ];
        assert_eq!(driving(&criteria), Some(3));
        assert_eq!(
            driving(&criteria[..3]),
            Some(0),
            "a common value beats none"
        );
        assert_eq!(driving(&criteria[1..2]), None);
        let (sql, _) = where_clause(&SearchQuery {
            resource_type: "HealthcareService".into(),
            criteria,
            count: 10,
            offset: 0,
            sort: SortOrder::default(),
        });
        assert!(sql.starts_with("FROM (SELECT DISTINCT"), "{sql}");
        assert_eq!(sql.matches("EXISTS").count(), 4, "{sql}");
        assert!(
            sql.contains("s.param = 'capacity-until' AND s.value >= $"),
            "the range names its partial index's condition: {sql}"
        );
    }
}
