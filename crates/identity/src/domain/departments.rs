//! Departments form a tree: each has at most one parent in the same tenant.
//! A department is created under an existing one and never moved, so a cycle
//! cannot be built; the walk below still stops on one, defensively.

use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// A department of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    /// Id.
    pub department_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Name.
    pub name: String,
    /// The parent department, if any.
    pub parent_id: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// The tree of `departments`, for the walks below.
pub fn tree_of(departments: &[Department]) -> HashMap<String, Node> {
    departments
        .iter()
        .map(|d| {
            (
                d.department_id.clone(),
                Node {
                    name: d.name.clone(),
                    parent: d.parent_id.clone(),
                },
            )
        })
        .collect()
}

/// One node: its name and parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Name.
    pub name: String,
    /// Parent id.
    pub parent: Option<String>,
}

/// The department and its ancestors, nearest first.
pub fn lineage(start: &str, tree: &HashMap<String, Node>) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut cur = Some(start.to_string());
    while let Some(id) = cur {
        if !seen.insert(id.clone()) || !tree.contains_key(&id) {
            break;
        }
        cur = tree.get(&id).and_then(|n| n.parent.clone());
        out.push(id);
    }
    out
}

/// Would making `parent` the parent of `child` close a cycle?
pub fn would_cycle(child: &str, parent: &str, tree: &HashMap<String, Node>) -> bool {
    lineage(parent, tree).iter().any(|id| id == child)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn tree(edges: &[(&str, Option<&str>)]) -> HashMap<String, Node> {
        edges
            .iter()
            .map(|(id, p)| {
                (
                    id.to_string(),
                    Node {
                        name: id.to_string(),
                        parent: p.map(str::to_string),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn lineage_walks_to_the_root() {
        let t = tree(&[
            ("sales", None),
            ("east", Some("sales")),
            ("moscow", Some("east")),
        ]);
        assert_eq!(lineage("moscow", &t), vec!["moscow", "east", "sales"]);
        assert_eq!(lineage("sales", &t), vec!["sales"]);
        assert!(lineage("nope", &t).is_empty());
    }

    #[test]
    fn cycles_are_detected_and_walks_terminate() {
        let t = tree(&[("a", None), ("b", Some("a")), ("c", Some("b"))]);
        assert!(would_cycle("a", "c", &t));
        assert!(would_cycle("a", "a", &t));
        assert!(!would_cycle("c", "a", &t));
        let broken = tree(&[("x", Some("y")), ("y", Some("x"))]);
        assert_eq!(lineage("x", &broken), vec!["x", "y"]);
    }
}
