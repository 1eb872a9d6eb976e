//! Schema evolution: existing clients keep working. Every commit since the rule was adopted is
//! compared with its parent; a change graphql-js's `findBreakingChanges` classifies as breaking
//! (what schema-diff tools report) must be announced in that commit's message by a line
//! `Schema-Breaking: <why>`. Otherwise fields are deprecated with a reason, never removed.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

/// The commit that adopted the rule; commits after it are checked.
const RULE_ADOPTED_AFTER: &str = "9b62564682fa008be0156f95d5487de1460f0d5c";

/// The line a commit message carries when it breaks the schema on purpose.
const BREAKING_TRAILER: &str = "Schema-Breaking:";

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs git in the repository; `None` when git refuses (an unknown object, for example).
fn git(arguments: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(arguments)
        .current_dir(repository())
        .output()
        .expect("git runs");
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// graphql-js's breaking changes for each `(id, old SDL, new SDL)`, keyed by id.
fn breaking_changes(pairs: &[(String, String, String)]) -> Vec<(String, Vec<String>)> {
    if pairs.is_empty() {
        return Vec::new();
    }
    let modules = std::env::var("GRAPHQL_JS_MODULES").expect(
        "GRAPHQL_JS_MODULES is not set: run `cargo xtask node` (or `cargo xtask test`) and export what it prints",
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("graphql-js/breaking-changes.cjs");
    let input: Vec<Value> = pairs
        .iter()
        .map(|(id, old, new)| json!({ "id": id, "old": old, "new": new }))
        .collect();
    let mut child = Command::new("node")
        .arg(script)
        .env("GRAPHQL_JS_MODULES", modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(Value::Array(input).to_string().as_bytes())
        .expect("the pairs reach node");
    let output = child.wait_with_output().expect("node finishes");
    assert!(
        output.status.success(),
        "breaking-changes.cjs failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts: Vec<Value> = serde_json::from_slice(&output.stdout).expect("JSON verdicts");
    verdicts
        .into_iter()
        .map(|verdict| {
            let id = verdict["id"].as_str().expect("id").to_string();
            let breaking = verdict["breaking"]
                .as_array()
                .expect("breaking")
                .iter()
                .map(|change| change.as_str().expect("text").to_string())
                .collect();
            (id, breaking)
        })
        .collect()
}

#[test]
fn graphql_js_reports_removals_and_narrowing_but_not_additions_or_deprecations() {
    let before = "type Query { me: User  users: [User!]! }\ntype User { id: ID!  name: String! }";
    let removed = "type Query { me: User }\ntype User { id: ID!  name: String! }";
    let now_nullable =
        "type Query { me: User  users: [User!]! }\ntype User { id: ID!  name: String }";
    let added_and_deprecated = "type Query { me: User  users: [User!]! @deprecated(reason: \"use me\")  admins: [User!]! }\ntype User { id: ID!  name: String!  email: String }";
    let verdicts = breaking_changes(&[
        ("removed".into(), before.into(), removed.into()),
        ("nullable".into(), before.into(), now_nullable.into()),
        (
            "additive".into(),
            before.into(),
            added_and_deprecated.into(),
        ),
    ]);
    assert_eq!(verdicts.len(), 3);
    assert_eq!(verdicts[0].0, "removed");
    assert_eq!(
        verdicts[0].1,
        vec!["FIELD_REMOVED: Query.users was removed.".to_string()]
    );
    assert_eq!(verdicts[1].0, "nullable");
    assert_eq!(verdicts[1].1.len(), 1, "{:?}", verdicts[1].1);
    assert!(verdicts[1].1[0].starts_with("FIELD_CHANGED_KIND: User.name"));
    assert_eq!(verdicts[2], ("additive".to_string(), Vec::new()));
}

#[test]
fn no_commit_breaks_the_schema_without_saying_so() {
    let baseline = format!("{RULE_ADOPTED_AFTER}^{{commit}}");
    let range = if git(&["cat-file", "-e", &baseline]).is_some() {
        format!("{RULE_ADOPTED_AFTER}..HEAD")
    } else {
        // A shallow clone without the commit: check what history there is.
        "HEAD".to_string()
    };
    let commits = git(&["rev-list", "--parents", &range]).expect("git rev-list");
    let schema_blob = |commit: &str| git(&["rev-parse", &format!("{commit}:schema.graphql")]);
    let mut pairs = Vec::new();
    let mut parents_of = Vec::new();
    for line in commits.lines() {
        let mut ids = line.split_whitespace();
        let Some(commit) = ids.next() else { continue };
        let Some(blob) = schema_blob(commit) else {
            continue;
        };
        let parents: Vec<(String, String)> = ids
            .filter_map(|parent| schema_blob(parent).map(|blob| (parent.to_string(), blob)))
            .collect();
        // Unchanged from a parent: whatever differs came from that parent's side, checked there.
        if parents.is_empty() || parents.iter().any(|(_, parent_blob)| *parent_blob == blob) {
            continue;
        }
        let new = git(&["cat-file", "blob", blob.trim()]).expect("the schema blob");
        for (parent, parent_blob) in &parents {
            let old = git(&["cat-file", "blob", parent_blob.trim()]).expect("the parent's schema");
            pairs.push((format!("{commit}:{parent}"), old, new.clone()));
        }
        parents_of.push((commit.to_string(), parents.len()));
    }
    let verdicts = breaking_changes(&pairs);
    let mut unannounced = Vec::new();
    for (commit, parent_count) in &parents_of {
        let changes: Vec<&Vec<String>> = verdicts
            .iter()
            .filter(|(id, _)| id.starts_with(&format!("{commit}:")))
            .map(|(_, breaking)| breaking)
            .collect();
        assert_eq!(changes.len(), *parent_count);
        // A merge breaks clients only where it breaks against every parent.
        if changes.iter().any(|breaking| breaking.is_empty()) {
            continue;
        }
        let message = git(&["log", "-1", "--format=%B", commit]).expect("the commit message");
        if message
            .lines()
            .any(|line| line.trim_start().starts_with(BREAKING_TRAILER))
        {
            continue;
        }
        unannounced.push(format!(
            "{commit} ({}):\n  {}",
            message.lines().next().unwrap_or_default(),
            changes[0].join("\n  ")
        ));
    }
    assert!(
        unannounced.is_empty(),
        "commits that break schema.graphql for existing clients without a `{BREAKING_TRAILER} <why>` line in their message (deprecate instead, or amend the message):\n{}",
        unannounced.join("\n")
    );
}
