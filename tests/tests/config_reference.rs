//! docs/OPERATIONS.md's configuration reference names every setting of the
//! gateway's configuration, and no setting that does not exist: a field
//! added to the config structs without a line in the reference fails here.

use std::collections::BTreeSet;

use schakel_gateway::Config;
use schakel_tests::workspace_root;

/// Every setting as a dotted path to a value, e.g. `server.listen` or
/// `routing.signalering.from`.
fn settings(prefix: &str, table: &toml::Table, out: &mut BTreeSet<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(t) => settings(&path, t, out),
            _ => {
                out.insert(path);
            }
        }
    }
}

/// The settings the reference's table lists: the backticked first column.
fn documented() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(workspace_root().join("docs/OPERATIONS.md")).unwrap();
    let start = doc
        .find("## Configuration reference")
        .expect("docs/OPERATIONS.md has a section \"## Configuration reference\"");
    let section = &doc[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_configuration_reference_lists_every_setting_and_no_other() {
    let table = toml::Table::try_from(Config::default()).unwrap();
    let mut actual = BTreeSet::new();
    settings("", &table, &mut actual);
    let documented = documented();
    let missing: Vec<_> = actual.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&actual).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/OPERATIONS.md, Configuration reference: missing {missing:?}; not settings {unknown:?}"
    );
}
